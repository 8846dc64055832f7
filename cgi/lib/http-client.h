/* A small HTTP/1.1 client for pulling a bundle: one GET per connection (Connection: close),
 * over TCP or TLS (OpenSSL, the server's certificate checked against the system's CA store or a
 * given CA file, and its name against the URL's host), with redirects, an optional byte range,
 * Content-Length and chunked bodies, and timeouts. The response head and the chunked framing
 * come from the network: every length is capped and every number checked. */
#pragma once

#include "content-range.h"
#include "error.h"
#include "url.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LB_HTTP_HEAD_MAX (16 << 10)  /* status line and headers together */
#define LB_HTTP_VALIDATOR_MAX 256    /* ETag and Last-Modified values */
#define LB_HTTP_REDIRECTS_MAX 5

struct lb_http_options {
	const char *ca_file;	     /* PEM file of the CA(s) to trust instead of the system's; NULL: system */
	unsigned connect_timeout_ms; /* 0: 15 s */
	unsigned idle_timeout_ms;    /* no byte for this long ends a read; 0: 30 s */
};

struct lb_http_request {
	uint64_t range_from;  /* > 0: ask for "bytes=FROM-" */
	uint64_t range_end;   /* with range_from, > 0: only up to this byte (excluded): "bytes=FROM-(END-1)" */
	const char *if_range; /* with a range: the validator (ETag or Last-Modified) of the first response */
};

struct lb_http_response {
	int status;
	char reason[64]; /* printable ASCII only */
	bool chunked;
	bool has_length;
	uint64_t content_length;
	bool has_range; /* a valid Content-Range "bytes FIRST-LAST/TOTAL" */
	bool accept_ranges; /* "Accept-Ranges: bytes": the server says it answers range requests */
	struct lb_content_range range;
	char etag[LB_HTTP_VALIDATOR_MAX + 1];
	char last_modified[LB_HTTP_VALIDATOR_MAX + 1];
	char location[LB_URL_MAX + 1];
};

/* One response being read. */
struct lb_http;

/* Parses a complete response head (the status line and the header lines, up to and excluding
 * the empty line; CRLF or LF line ends). Refused: another protocol than HTTP/1.0 or 1.1, a
 * malformed status or header line, folded headers, an invalid or conflicting Content-Length, a
 * Transfer-Encoding other than chunked, over-long values. */
int lb_http_response_parse(const char *head, size_t size, struct lb_http_response *ret, struct lb_error *err);

/* Sends GET for `url` and reads the response head, following up to LB_HTTP_REDIRECTS_MAX
 * redirects (http to https is followed, https to http refused). Any final status is returned:
 * the caller decides what a 404 or a 200 to a range request means. `ret_url` (may be NULL) gets
 * the URL that answered. */
int lb_http_get(const struct lb_url *url, const struct lb_http_request *req, const struct lb_http_options *opt,
		struct lb_http **ret, struct lb_url *ret_url, struct lb_error *err);

/* The head of the response `h` reads. */
const struct lb_http_response *lb_http_response(const struct lb_http *h);

/* Reads body bytes: a count, 0 at the body's end, or a negative errno with `err` set (the
 * connection closed before Content-Length or the last chunk: -ECONNRESET; no byte within the
 * idle timeout: -ETIMEDOUT; broken chunked framing: -EBADMSG). */
ssize_t lb_http_read_body(struct lb_http *h, void *buf, size_t size, struct lb_error *err);

void lb_http_free(struct lb_http *h);

/* A response read from any byte source instead of a connection (tests and the fuzz target):
 * `recv` returns a count, 0 at the end, or a negative errno. The head is read and parsed here. */
int lb_http_from_reader(ssize_t (*recv)(void *ctx, void *buf, size_t size), void *ctx, struct lb_http **ret,
			struct lb_error *err);
