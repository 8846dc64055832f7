/* An input (input.h) over a file on an HTTP(S) server that survives a dropped or stalled
 * connection: it asks again with "Range: bytes=N-" from the exact byte the installer has
 * consumed, and "If-Range" with the first response's ETag (or Last-Modified), so that the
 * installer reads one unbroken stream. A server that answers a range request with the whole
 * file, a range that does not start at the asked byte, or a changed ETag or Last-Modified
 * end the input: the bytes already consumed could belong to another file. */
#pragma once

#include "error.h"
#include "http-client.h"
#include "input.h"

#include <stdatomic.h>
#include <stdint.h>

struct lb_http_input_options {
	struct lb_http_options http;
	unsigned max_drops;     /* reconnects allowed; 0: 10 */
	unsigned stall_seconds; /* no byte for this long, over all retries, ends the input; 0: 60 */
	unsigned backoff_ms;    /* the first wait before a reconnect, doubled each time up to 10 s; 0: 500 */
	/* The first connection: failures to resolve or connect are tried again for this long
	 * (a recovery that just booted may not have its address yet); 0: one try. */
	unsigned open_retry_seconds;
	/* Each reconnect, for the log (NULL: none). */
	void (*log)(void *userdata, const char *message);
	void *userdata;
	const atomic_bool *cancel; /* set from outside to stop at the next read */
};

struct lb_http_input {
	struct lb_url url;
	struct lb_http_input_options opt;
	struct lb_http *http;
	uint64_t position; /* body bytes handed out: where a reconnect resumes */
	uint64_t size;	   /* the first response's Content-Length (0: unknown) */
	bool accept_ranges; /* the first response said "Accept-Ranges: bytes" */
	char validator[LB_HTTP_VALIDATOR_MAX + 1]; /* sent as If-Range */
	char etag[LB_HTTP_VALIDATOR_MAX + 1], last_modified[LB_HTTP_VALIDATOR_MAX + 1];
	unsigned drops;
	double last_progress; /* monotonic seconds of the last byte */
	uint64_t transferred; /* body bytes that crossed the network */
	/* Pieces mode (lb_http_input_select): only these [offset, length] pieces of the file, in
	 * order, each asked for with its own range request. */
	const uint64_t (*pieces)[2];
	size_t piece_count, piece_index;
	uint64_t piece_end; /* the file byte where the current piece ends */
	/* Why the input ended early: the installer only sees a read error (LB_E_READ), this says
	 * what happened. */
	struct lb_error err;
};

/* Sends the first GET for `url` (the file whole) and checks the answer: anything but 200 is an
 * error that names the status (404: no such file; 401/403: access refused). */
int lb_http_input_open(struct lb_http_input *hi, const char *url, const struct lb_http_input_options *opt,
		       struct lb_error *err);

/* From now on, reads only `count` pieces of the file (offset, length; in increasing order, none
 * before the current position): the rest of the current response is dropped and each piece is
 * asked for with "Range: bytes=FROM-TO" and If-Range, resumed within the piece after a drop as
 * the whole file is. `pieces` must stay valid while the input is used. What a delta pull
 * fetches: the frames its plan sends (delta-plan.h). */
void lb_http_input_select(struct lb_http_input *hi, const uint64_t (*pieces)[2], size_t count);

/* The input reading `hi` (open). */
void lb_http_input_init(struct lb_input *in, struct lb_http_input *hi);

void lb_http_input_close(struct lb_http_input *hi);
