#include "content-range.h"

#include <string.h>

/* One decimal number ending at `*pos`'s first non-digit; false on overflow, a leading zero or
 * no digit at all. */
static bool number(const char *t, size_t size, size_t *pos, uint64_t *ret)
{
	size_t start = *pos;
	uint64_t v = 0;
	while (*pos < size && t[*pos] >= '0' && t[*pos] <= '9') {
		unsigned d = (unsigned)(t[*pos] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		(*pos)++;
	}
	if (*pos == start || (t[start] == '0' && *pos - start > 1))
		return false;
	*ret = v;
	return true;
}

bool lb_content_range_parse(const char *text, size_t size, struct lb_content_range *ret)
{
	struct lb_content_range r;
	size_t pos = 6;
	if (size < pos || memcmp(text, "bytes ", 6) != 0)
		return false;
	if (!number(text, size, &pos, &r.first) || pos >= size || text[pos++] != '-' ||
	    !number(text, size, &pos, &r.last) || pos >= size || text[pos++] != '/' ||
	    !number(text, size, &pos, &r.total) || pos != size)
		return false;
	if (r.first > r.last || r.last >= r.total)
		return false;
	*ret = r;
	return true;
}
