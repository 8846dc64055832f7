/* Fuzz target: the Content-Range parser of resumed uploads, on arbitrary header values. What
 * parses must satisfy FIRST <= LAST < TOTAL and print back to the exact same bytes (one
 * spelling per range: no leading zeros, no spaces, no sign). */
#include "lib/content-range.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_content_range r;
	if (!lb_content_range_parse((const char *)data, size, &r))
		return 0;
	if (r.first > r.last || r.last >= r.total)
		abort();
	char text[96];
	int n =
	    snprintf(text, sizeof(text), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r.first, r.last, r.total);
	if ((size_t)n != size || memcmp(text, data, size) != 0)
		abort();
	return 0;
}
