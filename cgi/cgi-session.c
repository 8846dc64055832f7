/* /api/session: the upload session a cut upload left (lib/session.h), so that a client sends
 * only what the device does not hold yet. GET describes it (404 when there is none); POST with
 * the first bytes of a bundle (its header at least) answers whether that bundle is the one the
 * session belongs to: the page asks this way, since it cannot hash on a plain-HTTP origin.
 * Neither changes anything; resuming is a POST /api/install with a Content-Range. */
#include "cgi-common.h"
#include "lib/io.h"
#include "lib/session.h"
#include "lib/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_body(uint64_t length, uint8_t **ret, size_t *ret_size)
{
	uint8_t *buf = malloc(length ? length : 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = lb_read_full(STDIN_FILENO, buf, length);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*ret = buf;
	*ret_size = (size_t)n;
	return 0;
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_session session;
	struct lb_error err = {0};

	cgi_request_from_env(&req);
	bool post = !strcmp(req.method, "POST");
	bool refused = post ? cgi_refuse_octet_post(&req, CGI_BUNDLE_HEADER_MAX, "the bundle's first bytes (its header)",
						    "the bundle's header: its first bytes, at most 4 MiB")
			    : cgi_refuse_unless_get(&req);
	if (refused || !cgi_load_config(&cfg))
		return 0;

	int r = lb_session_load(cfg.state_dir, &session, &err);
	bool active = lb_state_locked(cfg.state_dir);
	if (r < 0 && !post) {
		cgi_error(404, "no-session",
			  r == -ENOENT ? "there is no cut upload to resume: send the whole bundle"
				       : err.message,
			  NULL);
		return 0;
	}
	if (!post) {
		cgi_begin(200);
		lb_session_json(&session, active, stdout);
		printf("\n");
		lb_session_free(&session);
		return 0;
	}

	uint8_t *body = NULL;
	size_t size = 0;
	int rb = read_body(req.content_length, &body, &size);
	if (rb < 0) {
		cgi_error(400, "bad-request", "the request body could not be read", NULL);
		if (r == 0)
			lb_session_free(&session);
		return 0;
	}
	bool match = r == 0 && lb_session_matches(&session, body, size);
	cgi_begin(200);
	printf("{\"match\":%s,\"session\":", match ? "true" : "false");
	if (r == 0)
		lb_session_json(&session, active, stdout);
	else
		printf("null");
	printf("}\n");
	free(body);
	if (r == 0)
		lb_session_free(&session);
	return 0;
}
