#include "multipart.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

enum { BEFORE_HEADERS, IN_HEADERS, IN_CONTENT, AFTER_CONTENT };

int lb_multipart_init(struct lb_multipart *mp, struct lb_input *source, const char *content_type,
		      struct lb_error *err)
{
	static const char type[] = "multipart/form-data";
	memset(mp, 0, sizeof(*mp));
	mp->source = source;
	if (!content_type || strncasecmp(content_type, type, sizeof(type) - 1) != 0)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the body is not multipart/form-data");
	const char *b = strcasestr(content_type, "boundary=");
	if (!b)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "multipart/form-data without a boundary");
	b += strlen("boundary=");
	size_t n;
	if (*b == '"') {
		b++;
		const char *q = strchr(b, '"');
		n = q ? (size_t)(q - b) : 0;
	} else
		n = strcspn(b, "; \t");
	if (n == 0 || n > 70)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "multipart boundary of %zu characters (1 to 70 allowed)", n);
	/* The first boundary line has no CRLF before it; pretending one was read lets one search
	 * pattern serve for every delimiter. */
	memcpy(mp->delimiter, "\r\n--", 4);
	memcpy(mp->delimiter + 4, b, n);
	mp->delimiter_len = n + 4;
	memcpy(mp->window, "\r\n", 2);
	mp->end = 2;
	mp->state = BEFORE_HEADERS;
	return 0;
}

/* Tops the window up from the source; returns bytes added, 0 at its end, or a negative errno. */
static ssize_t fill(struct lb_multipart *mp)
{
	if (mp->source_ended)
		return 0;
	if (mp->start > 0) {
		memmove(mp->window, mp->window + mp->start, mp->end - mp->start);
		mp->end -= mp->start;
		mp->start = 0;
	}
	if (mp->end == sizeof(mp->window))
		return -ENOBUFS;
	ssize_t n = mp->source->read(mp->source->ctx, mp->window + mp->end, sizeof(mp->window) - mp->end);
	if (n < 0)
		return n;
	if (n == 0)
		mp->source_ended = true;
	mp->source->consumed += (uint64_t)n;
	mp->end += (size_t)n;
	return n;
}

static const uint8_t *find(const struct lb_multipart *mp, const void *needle, size_t len)
{
	return memmem(mp->window + mp->start, mp->end - mp->start, needle, len);
}

static ssize_t malformed(struct lb_multipart *mp, const char *what)
{
	lb_error_set(&mp->err, EBADMSG, LB_E_USAGE, "malformed multipart body: %s", what);
	return -EBADMSG;
}

/* Moves past the first delimiter and the part's headers. */
static ssize_t skip_to_content(struct lb_multipart *mp)
{
	for (;;) {
		if (mp->state == BEFORE_HEADERS) {
			const uint8_t *d = find(mp, mp->delimiter, mp->delimiter_len);
			if (d) {
				mp->start = (size_t)(d - mp->window) + mp->delimiter_len;
				mp->state = IN_HEADERS;
				continue;
			}
			if (mp->end - mp->start > LB_MULTIPART_HEADERS_MAX)
				return malformed(mp, "no boundary at its start");
		} else {
			const uint8_t *e = find(mp, "\r\n\r\n", 4);
			if (e) {
				mp->start = (size_t)(e - mp->window) + 4;
				mp->state = IN_CONTENT;
				return 0;
			}
			if (mp->end - mp->start > LB_MULTIPART_HEADERS_MAX)
				return malformed(mp, "part headers longer than 8 KiB");
		}
		ssize_t n = fill(mp);
		if (n < 0)
			return n == -ENOBUFS ? malformed(mp, "headers do not fit") : n;
		if (n == 0)
			return 0; /* the body ended: an empty input, reported as truncated */
	}
}

static ssize_t multipart_read(void *ctx, void *buf, size_t size)
{
	struct lb_multipart *mp = ctx;
	if (mp->state != IN_CONTENT && mp->state != AFTER_CONTENT) {
		ssize_t r = skip_to_content(mp);
		if (r < 0 || mp->state != IN_CONTENT)
			return r;
	}
	for (;;) {
		if (mp->state == AFTER_CONTENT)
			return 0;
		const uint8_t *d = find(mp, mp->delimiter, mp->delimiter_len);
		size_t avail = mp->end - mp->start;
		/* Without a delimiter in view, its first bytes may be at the window's end: hold back
		 * what could be its start. */
		size_t safe = d ? (size_t)(d - (mp->window + mp->start))
				: avail >= mp->delimiter_len ? avail - (mp->delimiter_len - 1) : 0;
		if (safe > 0) {
			size_t n = safe < size ? safe : size;
			memcpy(buf, mp->window + mp->start, n);
			mp->start += n;
			return (ssize_t)n;
		}
		if (d) {
			mp->state = AFTER_CONTENT;
			return 0;
		}
		ssize_t n = fill(mp);
		if (n < 0)
			return n;
		if (n == 0)
			return 0; /* cut before the closing delimiter */
	}
}

void lb_multipart_input(struct lb_multipart *mp, struct lb_input *ret)
{
	*ret = (struct lb_input){.read = multipart_read, .ctx = mp};
}
