#include "websocket-upload.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* lighttpd's end of the connection: the CGI's standard output stays the socket's way out after
 * the handshake, while the stdio stream `stdout` is pointed at the capture. */
static int ws_fd = 1;
static char *captured;
static size_t captured_size;
static atomic_bool accepted;

#define KEEPALIVE_SECONDS 10
static atomic_llong last_ping;

/* lighttpd neither closes an upgraded connection's input nor ends the CGI when the client goes
 * away: a reloaded page's connection was seen to stay half-closed (CLOSE-WAIT) with the CGI
 * waiting on. So the CGI asks itself: after this much silence it pings, and every client that is
 * still there answers a ping at once (browsers do it below the page's script, tests/ws-upload.js
 * too). */
#define SILENCE_PING_MS 2000
/* No byte for this long, pings unanswered, and the client is taken as gone: the upload is cut
 * (and resumable), as lighttpd's server.max-read-idle cuts a POST. */
#define SILENCE_GIVE_UP_SECONDS 10

static long long monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

bool cgi_websocket_requested(void)
{
	const char *method = getenv("REQUEST_METHOD"), *upgrade = getenv("HTTP_UPGRADE");
	return method && !strcmp(method, "GET") && upgrade && !strcasecmp(upgrade, "websocket");
}

/* ?size=N: the upload's length in bytes, 1 or more. */
static bool query_size(const struct cgi_request *r, uint64_t *ret)
{
	for (const char *q = r->query; q && *q;) {
		const char *end = strchr(q, '&');
		if (!strncmp(q, "size=", 5) && q[5] >= '0' && q[5] <= '9') {
			char *stop;
			errno = 0;
			unsigned long long v = strtoull(q + 5, &stop, 10);
			if (errno || (*stop && *stop != '&') || v == 0)
				return false;
			*ret = v;
			return true;
		}
		q = end ? end + 1 : NULL;
	}
	return false;
}

/* At exit: the captured HTTP answer as the one text message, then the close frame. */
static void send_answer(void)
{
	fclose(stdout);
	int status = 500;
	const char *body = NULL;
	if (captured && sscanf(captured, "Status: %d", &status) == 1) {
		body = strstr(captured, "\r\n\r\n");
		body = body ? body + 4 : NULL;
	}
	char *message = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&message, &size);
	if (!f)
		return;
	if (body && *body == '{') {
		size_t len = strlen(body);
		while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
			len--;
		fprintf(f, "{\"status\":%d,\"reply\":%.*s}", status, (int)len, body);
	} else
		fprintf(f, "{\"status\":500,\"reply\":{\"error\":{\"code\":\"internal\",\"message\":\"the install "
			   "ended without an answer: see GET /api/log\"}}}");
	if (fclose(f) == 0) {
		lb_ws_send(ws_fd, LB_WS_TEXT, message, size);
		lb_ws_send_close(ws_fd, LB_WS_CLOSE_NORMAL, NULL);
	}
	free(message);
	free(captured);
}

bool cgi_websocket_accept(struct cgi_request *r)
{
	char accept[LB_WS_ACCEPT_SIZE];
	const char *version = getenv("HTTP_SEC_WEBSOCKET_VERSION");

	if (cgi_refuse_cross_site(r))
		return false;
	if (!version || strcmp(version, "13") != 0 || lb_ws_accept(getenv("HTTP_SEC_WEBSOCKET_KEY"), accept) < 0) {
		cgi_error(400, "bad-request",
			  "not a WebSocket handshake of version 13 (RFC 6455): upload with POST instead (curl "
			  "--upload-file BUNDLE -X POST -H 'Content-Type: application/octet-stream')",
			  NULL);
		return false;
	}
	if (!query_size(r, &r->content_length)) {
		cgi_error(400, "bad-request",
			  "a WebSocket upload names its length: GET /api/install?size=N, N the bundle's size in bytes",
			  NULL);
		return false;
	}

	/* From here on the client only sees WebSocket frames: a write after it went away must fail
	 * with EPIPE, not end the program before the state file says what happened. */
	signal(SIGPIPE, SIG_IGN);
	printf("Status: 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	       "Sec-WebSocket-Accept: %s\r\n\r\n",
	       accept);
	if (fflush(stdout) != 0)
		exit(0);
	FILE *capture = open_memstream(&captured, &captured_size);
	if (!capture)
		exit(0);
	stdout = capture; /* glibc's stdout is an assignable FILE pointer, as C allows it to be */
	atexit(send_answer);
	atomic_store(&last_ping, monotonic_seconds());
	atomic_store(&accepted, true);
	return true;
}

/* The request body as cgi_read_request_body reads it, with a ping after each silence and
 * -ETIMEDOUT once the client sent nothing for SILENCE_GIVE_UP_SECONDS. `ctx`: the cancel flag. */
static ssize_t read_watching_silence(void *ctx, void *buf, size_t size)
{
	const atomic_bool *cancel = ctx;
	long long silent_since = monotonic_seconds();
	for (;;) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		int n = poll(&p, 1, SILENCE_PING_MS);
		if (n > 0)
			return cgi_read_request_body(NULL, buf, size);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (atomic_load(cancel))
			return -ECONNABORTED;
		if (monotonic_seconds() - silent_since >= SILENCE_GIVE_UP_SECONDS)
			return -ETIMEDOUT;
		if (n == 0) {
			lb_ws_send(ws_fd, LB_WS_PING, NULL, 0);
			atomic_store(&last_ping, monotonic_seconds());
		}
	}
}

void cgi_websocket_input(struct lb_ws_reader *reader, const struct cgi_request *r, const atomic_bool *cancel,
			 struct lb_input *ret)
{
	lb_ws_reader_init(reader, read_watching_silence, (void *)cancel, r->content_length);
	lb_ws_reader_set_pong(reader, lb_ws_pong_fd, &ws_fd);
	lb_ws_reader_input(reader, ret);
}

void cgi_websocket_keepalive(void)
{
	if (!atomic_load(&accepted))
		return;
	long long now = monotonic_seconds(), last = atomic_load(&last_ping);
	/* one thread wins the exchange and pings; a ping is one write(2), whole between other frames */
	if (now - last >= KEEPALIVE_SECONDS && atomic_compare_exchange_strong(&last_ping, &last, now))
		lb_ws_send(ws_fd, LB_WS_PING, NULL, 0);
}
