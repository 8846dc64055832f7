/* Fuzz target: an HTTP response as the pull client reads it from a server (the head parser, the
 * Content-Length and chunked body framing), delivered in pieces of random size as a network
 * does. What it returns must hold together: never more body than the input has, a parsed
 * Content-Length that the body does not exceed, printable validators. */
#include "pieces.h"
#include "lib/http-client.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ssize_t reader(void *ctx, void *buf, size_t size)
{
	return pieces_read(ctx, buf, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pieces p = {.data = data, .size = size, .state = size ? data[0] : 0, .max = 97};
	struct lb_http *h;
	struct lb_error err = {0};
	if (lb_http_from_reader(reader, &p, &h, &err) < 0) {
		if (!lb_error_failed(&err))
			abort(); /* a failure always says why */
		return 0;
	}
	const struct lb_http_response *r = lb_http_response(h);
	if (r->status < 200 || r->status > 999)
		abort();
	for (const char *c = r->etag; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			abort();
	if (r->has_range && (r->range.first > r->range.last || r->range.last >= r->range.total))
		abort();
	uint64_t body = 0;
	char buf[300];
	for (;;) {
		struct lb_error e = {0};
		ssize_t n = lb_http_read_body(h, buf, sizeof(buf), &e);
		if (n < 0 && !lb_error_failed(&e))
			abort();
		if (n <= 0)
			break;
		if ((size_t)n > sizeof(buf))
			abort();
		body += (uint64_t)n;
	}
	if (body > size || (r->has_length && !r->chunked && body > r->content_length))
		abort();
	lb_http_free(h);
	return 0;
}
