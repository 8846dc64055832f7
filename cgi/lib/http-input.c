#include "http-input.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(struct lb_http_input *hi, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct lb_http_input *hi, const char *fmt, ...)
{
	if (!hi->opt.log)
		return;
	char text[LB_ERROR_MESSAGE_MAX + 128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	hi->opt.log(hi->opt.userdata, text);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int status_error(const struct lb_http_response *r, const char *url, struct lb_error *err)
{
	const char *hint = r->status == 404 || r->status == 410 ? ": check the URL (no such file on the server)"
			   : r->status == 401 || r->status == 403 ? ": the server refuses access to the file"
			   : r->status >= 500			   ? ": the server failed; try again later"
								   : "";
	return lb_error_set(err, EIO, LB_E_READ, "the server answered HTTP %d%s%s for %.300s%s", r->status,
			    r->reason[0] ? " " : "", r->reason, url, hint);
}

int lb_http_input_open(struct lb_http_input *hi, const char *url, const struct lb_http_input_options *opt,
		       struct lb_error *err)
{
	*hi = (struct lb_http_input){.opt = *opt};
	if (!hi->opt.max_drops)
		hi->opt.max_drops = 10;
	if (!hi->opt.stall_seconds)
		hi->opt.stall_seconds = 60;
	if (!hi->opt.backoff_ms)
		hi->opt.backoff_ms = 500;
	int r = lb_url_parse(url, &hi->url, err);
	if (r < 0)
		return r;
	double start = now();
	for (unsigned attempt = 1;; attempt++) {
		struct lb_error e = {0};
		r = lb_http_get(&hi->url, NULL, &hi->opt.http, &hi->http, NULL, &e);
		if (r == 0)
			break;
		/* only the network's failures are worth waiting for (not a refused certificate) */
		if (e.code != LB_E_READ || r == -EPERM || now() - start + 2 > hi->opt.open_retry_seconds ||
		    (hi->opt.cancel && atomic_load(hi->opt.cancel))) {
			*err = e;
			return r;
		}
		say(hi, "%s: trying again (attempt %u)", e.message, attempt + 1);
		sleep_ms(2000);
	}
	const struct lb_http_response *resp = lb_http_response(hi->http);
	if (resp->status != 200) {
		r = status_error(resp, url, err);
		lb_http_input_close(hi);
		return r;
	}
	hi->size = resp->has_length ? resp->content_length : 0;
	hi->accept_ranges = resp->accept_ranges;
	snprintf(hi->etag, sizeof(hi->etag), "%s", resp->etag);
	snprintf(hi->last_modified, sizeof(hi->last_modified), "%s", resp->last_modified);
	/* a weak ETag may not be used in If-Range (RFC 9110, 13.1.5); Last-Modified may */
	snprintf(hi->validator, sizeof(hi->validator), "%s",
		 resp->etag[0] && strncmp(resp->etag, "W/", 2) != 0 ? resp->etag : resp->last_modified);
	hi->last_progress = now();
	return 0;
}

/* Whether the response to a range request continues this very file at hi->position. A hard
 * error (the file changed, the server cannot resume) is recorded in hi->err and returns
 * -ESTALE; anything worth another try returns -EAGAIN with `why` set. */
static int check_resume(struct lb_http_input *hi, const struct lb_http_response *r, char *why, size_t why_size)
{
	bool changed = (hi->etag[0] && r->etag[0] && strcmp(hi->etag, r->etag) != 0) ||
		       (hi->last_modified[0] && r->last_modified[0] && strcmp(hi->last_modified, r->last_modified) != 0);
	if (r->status == 206) {
		if (changed || (r->has_range && hi->size && r->range.total != hi->size)) {
			lb_error_set(&hi->err, ESTALE, LB_E_READ,
				     "the file on the server changed during the download (at byte %llu): start again",
				     (unsigned long long)hi->position);
			return -ESTALE;
		}
		if (!r->has_range || r->range.first != hi->position) {
			lb_error_set(&hi->err, ESTALE, LB_E_READ,
				     "the server answered the request for bytes from %llu with another range "
				     "(Content-Range: %s): it cannot resume this download; start again",
				     (unsigned long long)hi->position, r->has_range ? "not starting there" : "missing or invalid");
			return -ESTALE;
		}
		return 0;
	}
	if (r->status == 200 || r->status == 416) {
		if (changed || r->status == 416 || !hi->validator[0])
			lb_error_set(&hi->err, ESTALE, LB_E_READ,
				     "the file on the server changed during the download (at byte %llu): start again",
				     (unsigned long long)hi->position);
		else
			lb_error_set(&hi->err, ESTALE, LB_E_READ,
				     "the server ignores range requests (it answered 200 to bytes=%llu-): the download "
				     "cannot resume after the connection dropped; use a server that supports Range "
				     "(nginx, Apache and object storage do)",
				     (unsigned long long)hi->position);
		return -ESTALE;
	}
	if (r->status >= 500 || r->status == 408 || r->status == 429) {
		snprintf(why, why_size, "the server answered HTTP %d %s", r->status, r->reason);
		return -EAGAIN;
	}
	char url[LB_URL_MAX + 64];
	lb_url_format(&hi->url, url, sizeof(url));
	status_error(r, url, &hi->err);
	return -ESTALE;
}

static bool cancelled(const struct lb_http_input *hi)
{
	return hi->opt.cancel && atomic_load(hi->opt.cancel);
}

/* After a drop: waits, reconnects with a range, and checks the answer, until a connection
 * continues the file or the limits are reached. `first_why` NULL: no drop, the next piece is
 * asked for (its first try neither counts nor waits). */
static int reconnect(struct lb_http_input *hi, const char *first_why)
{
	char why[LB_ERROR_MESSAGE_MAX];
	bool fresh = first_why == NULL;
	snprintf(why, sizeof(why), "%s", first_why ? first_why : "");
	for (;; fresh = false) {
		lb_http_free(hi->http);
		hi->http = NULL;
		if (!fresh)
			hi->drops++;
		/* a new piece after the installer's own pause (copying reused chunks) is no stall */
		if (fresh)
			hi->last_progress = now();
		double stalled = now() - hi->last_progress;
		if (hi->drops > hi->opt.max_drops || stalled >= hi->opt.stall_seconds) {
			lb_error_set(&hi->err, EIO, LB_E_READ,
				     "the download broke off at byte %llu%s%llu and could not be resumed (%u reconnects, "
				     "%.0f s without progress; last: %s): check the network and the server, then start again",
				     (unsigned long long)hi->position, hi->size ? " of " : "",
				     (unsigned long long)hi->size, hi->drops - 1, stalled, why);
			return -EIO;
		}
		unsigned shift = hi->drops - 1 < 5 ? hi->drops - 1 : 5;
		unsigned wait = fresh ? 0 : hi->opt.backoff_ms << shift;
		if (wait > 10000)
			wait = 10000;
		if (!fresh)
			say(hi, "connection dropped at byte %llu (%s): reconnect %u of at most %u in %.1f s, from byte %llu",
			    (unsigned long long)hi->position, why, hi->drops, hi->opt.max_drops, wait / 1000.0,
			    (unsigned long long)hi->position);
		for (unsigned slept = 0; slept < wait; slept += 100) {
			if (cancelled(hi))
				return lb_error_set(&hi->err, ECANCELED, LB_E_CANCELLED, "the download was stopped");
			sleep_ms(100);
		}
		struct lb_http_request req = {.range_from = hi->position, .range_end = hi->pieces ? hi->piece_end : 0,
					      .if_range = hi->validator};
		struct lb_error err = {0};
		if (lb_http_get(&hi->url, hi->position ? &req : NULL, &hi->opt.http, &hi->http, NULL, &err) < 0) {
			snprintf(why, sizeof(why), "%s", err.message);
			if (err.code != LB_E_READ) { /* a configuration problem (CA file): no retry helps */
				hi->err = err;
				return -EIO;
			}
			continue;
		}
		const struct lb_http_response *r = lb_http_response(hi->http);
		int rc;
		if (hi->position == 0) /* nothing consumed yet: the whole file again, as at the start */
			rc = r->status == 200 ? 0 : check_resume(hi, r, why, sizeof(why));
		else
			rc = check_resume(hi, r, why, sizeof(why));
		if (rc == 0) {
			if (!fresh)
				say(hi, "resumed at byte %llu", (unsigned long long)hi->position);
			return 0;
		}
		if (rc == -ESTALE) {
			lb_http_free(hi->http);
			hi->http = NULL;
			return -ESTALE;
		}
	}
}

/* In pieces mode, at the end of a piece: the next one, asked for on a new connection. 1: there
 * is none left; 0: reading may go on; a negative errno: it could not be had. */
static int next_piece(struct lb_http_input *hi)
{
	if (hi->position < hi->piece_end && hi->http)
		return 0;
	if (hi->position >= hi->piece_end) {
		if (hi->piece_index >= hi->piece_count)
			return 1;
		hi->position = hi->pieces[hi->piece_index][0];
		hi->piece_end = hi->position + hi->pieces[hi->piece_index][1];
		hi->piece_index++;
	}
	int r = reconnect(hi, NULL);
	return r == -ESTALE ? -EIO : r;
}

void lb_http_input_select(struct lb_http_input *hi, const uint64_t (*pieces)[2], size_t count)
{
	lb_http_free(hi->http);
	hi->http = NULL;
	hi->pieces = pieces;
	hi->piece_count = count;
	hi->piece_index = 0;
	hi->piece_end = hi->position; /* the first read asks for the first piece */
}

static ssize_t http_read(void *ctx, void *buf, size_t size)
{
	struct lb_http_input *hi = ctx;
	if (lb_error_failed(&hi->err))
		return -EIO;
	for (;;) {
		if (cancelled(hi)) {
			lb_error_set(&hi->err, ECANCELED, LB_E_CANCELLED, "the download was stopped");
			return -ECANCELED;
		}
		if (hi->pieces) {
			int r = next_piece(hi);
			if (r != 0)
				return r > 0 ? 0 : r;
			if (size > hi->piece_end - hi->position)
				size = (size_t)(hi->piece_end - hi->position);
		}
		struct lb_error err = {0};
		ssize_t n = hi->http ? lb_http_read_body(hi->http, buf, size, &err) : -ECONNRESET;
		if (n > 0) {
			hi->position += (uint64_t)n;
			hi->transferred += (uint64_t)n;
			hi->last_progress = now();
			return n;
		}
		if (n == 0 && hi->pieces && hi->position >= hi->piece_end)
			continue;
		/* the end, unless the connection closed quietly before Content-Length */
		if (n == 0 && !hi->pieces && (!hi->size || hi->position >= hi->size))
			return 0;
		if (n == 0)
			lb_error_set(&err, ECONNRESET, LB_E_READ, "the connection closed after %llu of %llu bytes",
				     (unsigned long long)hi->position,
				     (unsigned long long)(hi->pieces ? hi->piece_end : hi->size));
		if (n < 0 && err.code != LB_E_READ && err.code != LB_OK) { /* not the network's doing */
			hi->err = err;
			return n;
		}
		int r = reconnect(hi, err.message[0] ? err.message : "the connection was lost");
		if (r < 0)
			return r == -ESTALE ? -EIO : r;
	}
}

void lb_http_input_init(struct lb_input *in, struct lb_http_input *hi)
{
	in->read = http_read;
	in->ctx = hi;
	in->consumed = 0;
}

void lb_http_input_close(struct lb_http_input *hi)
{
	lb_http_free(hi->http);
	hi->http = NULL;
}
