#include "cgi-common.h"
#include "lib/json.h"
#include "lib/state.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

void cgi_request_from_env(struct cgi_request *r)
{
	*r = (struct cgi_request){
		.method = env("REQUEST_METHOD") ? env("REQUEST_METHOD") : "GET",
		.content_type = env("CONTENT_TYPE"),
		.origin = env("HTTP_ORIGIN"),
		.host = env("HTTP_HOST"),
		.fetch_site = env("HTTP_SEC_FETCH_SITE"),
		.remote_addr = env("REMOTE_ADDR") ? env("REMOTE_ADDR") : "?",
		.content_range = env("HTTP_CONTENT_RANGE"),
		.if_match = env("HTTP_IF_MATCH"),
		.query = env("QUERY_STRING"),
	};
	if (env("CONTENT_LENGTH"))
		r->content_length = strtoull(env("CONTENT_LENGTH"), NULL, 10);
}

bool cgi_query_has(const struct cgi_request *r, const char *param)
{
	size_t n = strlen(param);
	for (const char *q = r->query; q && *q;) {
		const char *end = strchr(q, '&');
		size_t len = end ? (size_t)(end - q) : strlen(q);
		if (len == n && !memcmp(q, param, n))
			return true;
		q = end ? end + 1 : NULL;
	}
	return false;
}

int cgi_status_for(enum lb_code code)
{
	switch (code) {
	case LB_OK:
		return 200;
	case LB_E_NOT_A_BUNDLE:
	case LB_E_FORMAT_VERSION:
	case LB_E_MANIFEST_INVALID:
	case LB_E_TRUNCATED:
	case LB_E_CHUNK_CORRUPT:
	case LB_E_TRAILING_DATA:
	case LB_E_FILESYSTEM_INVALID:
	case LB_E_USAGE:
		return 400;
	case LB_E_UNSIGNED:
	case LB_E_UNKNOWN_KEY:
	case LB_E_BAD_SIGNATURE:
	case LB_E_INCOMPATIBLE:
	case LB_E_RECOVERY_TOO_OLD:
		return 403;
	case LB_E_BUSY:
	case LB_E_NO_PLAN:
	case LB_E_PLAN_STALE:
		return 409;
	case LB_E_IMAGE_TOO_LARGE:
		return 413;
	default:
		return 500;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	default: return "Internal Server Error";
	}
}

void cgi_begin(int status)
{
	printf("Status: %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n", status,
	       reason(status));
}

void cgi_error(int status, const char *code, const char *message, const char *target_state)
{
	cgi_begin(status);
	printf("{\"error\":{\"code\":");
	lb_json_string(stdout, code);
	printf(",\"message\":");
	lb_json_string(stdout, message);
	if (target_state)
		printf(",\"target\":\"%s\"", target_state);
	printf("}}\n");
	fflush(stdout);
}

void cgi_error_from(const struct lb_error *err, const char *target_state)
{
	cgi_error(cgi_status_for(err->code), lb_code_name(err->code), err->message, target_state);
}

/* The Origin must name this very host: "http://HOST" or "https://HOST", HOST as the browser sent
 * it in the Host header (with its port). */
static bool same_origin(const struct cgi_request *r)
{
	if (!r->host)
		return false;
	const char *o = r->origin;
	if (!strncasecmp(o, "http://", 7))
		o += 7;
	else if (!strncasecmp(o, "https://", 8))
		o += 8;
	else
		return false;
	return strcasecmp(o, r->host) == 0;
}

bool cgi_refuse_cross_site(const struct cgi_request *r)
{
	if ((r->origin && !same_origin(r)) || (r->fetch_site && !strcmp(r->fetch_site, "cross-site"))) {
		cgi_error(403, "cross-site",
			  "requests from other web sites are refused: open the recovery's own page, or use curl", NULL);
		return true;
	}
	return false;
}

bool cgi_refuse_unsafe_post(const struct cgi_request *r)
{
	if (strcmp(r->method, "POST") != 0) {
		cgi_error(405, "method-not-allowed", "this endpoint takes POST", NULL);
		return true;
	}
	return cgi_refuse_cross_site(r);
}

bool cgi_refuse_octet_post(const struct cgi_request *r, uint64_t length_max, const char *what,
			   const char *length_hint)
{
	char msg[512];
	if (cgi_refuse_unsafe_post(r))
		return true;
	if (!r->content_type || strcasecmp(r->content_type, "application/octet-stream") != 0) {
		snprintf(msg, sizeof(msg), "send %s as application/octet-stream", what);
		cgi_error(415, "unsupported-media-type", msg, NULL);
		return true;
	}
	/* 0 is also a body of unknown length (chunked): these bodies are small, a client knows it */
	if (r->content_length == 0 || r->content_length > length_max) {
		snprintf(msg, sizeof(msg), "send %s", length_hint);
		cgi_error(400, "bad-request", msg, NULL);
		return true;
	}
	return false;
}

bool cgi_refuse_unless_get(const struct cgi_request *r)
{
	if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
		return false;
	cgi_error(405, "method-not-allowed", "this endpoint takes GET", NULL);
	return true;
}

bool cgi_load_config(struct lb_config *c)
{
	struct lb_error err = {0};
	if (lb_config_load_for_service(c, &err) < 0) {
		cgi_error_from(&err, NULL);
		return false;
	}
	return true;
}

bool cgi_take_install_lock(const struct lb_config *c, int *ret_lock_fd)
{
	int r = lb_state_lock(c->state_dir, ret_lock_fd);
	if (r == -EBUSY) {
		struct lb_state running;
		lb_state_load(c->state_dir, &running);
		char msg[LB_STATE_TEXT_MAX + 128];
		snprintf(msg, sizeof(msg), "another install is running (%s, %u %%): wait for it to finish",
			 running.message[0] ? running.message : "starting",
			 running.bundle_size ? (unsigned)(running.received * 100 / running.bundle_size) : 0);
		cgi_error(409, "busy", msg, "untouched");
		return false;
	}
	if (r < 0) {
		struct lb_error err = {0};
		lb_error_set(&err, -r, LB_E_INTERNAL, "cannot take the install lock in %s: %s", c->state_dir,
			     strerror(-r));
		cgi_error_from(&err, "untouched");
		return false;
	}
	return true;
}

static atomic_bool *cancel_flag;

ssize_t cgi_read_request_body(void *ctx, void *buf, size_t size)
{
	(void)ctx;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, size);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
		if (cancel_flag && atomic_load(cancel_flag))
			return -ECONNABORTED;
	}
}

static void on_termination(int sig)
{
	(void)sig;
	atomic_store(cancel_flag, true);
}

void cgi_cancel_on_termination(atomic_bool *flag)
{
	cancel_flag = flag;
	struct sigaction sa = {.sa_handler = on_termination};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
