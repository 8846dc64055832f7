/* What the CGI programs share: the request as lighttpd describes it in the environment, the
 * cross-site check every POST makes (and the checks of a raw bundle header's POST), reading the
 * request body, and JSON responses and errors in the one shape of docs/http-api.md. Program
 * layer: this is where HTTP is spoken; the library knows none of it. */
#pragma once

#include "lib/bundle.h"
#include "lib/config.h"
#include "lib/error.h"
#include "lib/manifest.h"
#include "lib/signature.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A bundle's header is at most this long: preamble, the largest manifest, a signature. The
 * endpoints that take a header (install-plan, session) take no more. */
#define CGI_BUNDLE_HEADER_MAX (LB_BUNDLE_PREAMBLE_SIZE + LB_MANIFEST_SIZE_MAX + LB_SIGNATURE_BLOCK_SIZE)

struct cgi_request {
	const char *method;
	const char *content_type;
	const char *origin;
	const char *host;
	const char *fetch_site; /* Sec-Fetch-Site */
	const char *remote_addr;
	const char *content_range; /* a resumed upload's "bytes FIRST-LAST/TOTAL" */
	const char *if_match;      /* the session a resumed upload expects: "\"MANIFEST-SHA256\"" */
	const char *query;         /* the query string, e.g. "delta=1"; NULL when there is none */
	uint64_t content_length;   /* 0 when unknown */
};

void cgi_request_from_env(struct cgi_request *r);

/* Whether the query string holds exactly `param` ("name=value") among its &-separated parts. */
bool cgi_query_has(const struct cgi_request *r, const char *param);

/* The HTTP status for an installer error code. */
int cgi_status_for(enum lb_code code);

/* Starts a response: status line, JSON content type, no caching. */
void cgi_begin(int status);

/* A complete error response: {"error":{"code","message"[,"target"]}}. */
void cgi_error(int status, const char *code, const char *message, const char *target_state);
void cgi_error_from(const struct lb_error *err, const char *target_state);

/* Refuses (with a complete 403 response) a request from another site's page: an Origin that is
 * not this host, or Sec-Fetch-Site: cross-site. Returns true when refused. */
bool cgi_refuse_cross_site(const struct cgi_request *r);

/* Refuses (with a complete response) what a state-changing endpoint must not accept: another
 * method than POST, or a request from another site. Returns true when refused. */
bool cgi_refuse_unsafe_post(const struct cgi_request *r);

/* Refuses (with a complete response) what an endpoint that takes a raw body must not accept:
 * what cgi_refuse_unsafe_post refuses, another Content-Type than application/octet-stream (415),
 * and an empty body or one longer than `length_max` (400). `what` names the body the endpoint
 * wants ("the bundle's header (...)"), `length_hint` says how long it is: the messages say
 * "send WHAT as application/octet-stream" and "send LENGTH_HINT". Returns true when refused. */
bool cgi_refuse_octet_post(const struct cgi_request *r, uint64_t length_max, const char *what,
			   const char *length_hint);

/* Refuses (with a complete 405 response) any method but GET (and HEAD). Returns true when refused. */
bool cgi_refuse_unless_get(const struct cgi_request *r);

/* The request body, as lighttpd streams it into standard input: an lb_input read function
 * (`ctx` unused). A read interrupted by a signal is retried, unless cgi_cancel_on_termination's
 * flag is set (lighttpd signals a CGI whose client went away): then -ECONNABORTED. */
ssize_t cgi_read_request_body(void *ctx, void *buf, size_t size);

/* Loads the configuration; on failure answers 500 and returns false. */
bool cgi_load_config(struct lb_config *c);

/* Takes the one-install-at-a-time lock of the state directory for an endpoint that installs.
 * When another install holds it, answers 409 saying what runs and how far it got; on any other
 * failure answers 500. Returns false after such a complete response. */
bool cgi_take_install_lock(const struct lb_config *c, int *ret_lock_fd);

/* Sets `flag` when lighttpd signals this process (it does when the client went away), so that a
 * running install stops at its next read; a write to a closed pipe returns EPIPE instead. */
void cgi_cancel_on_termination(atomic_bool *flag);
