/* POST /api/install-from-url {"url":"http[s]://..."}: the recovery pulls the bundle from that
 * server itself (lib/pull.h: resuming by Range when the connection drops) and installs it as
 * POST /api/install does, under the same lock and with the same state file; the response is
 * the same result JSON, once the install ended. Runs as the web appliance's user: it needs
 * nothing an upload does not, besides outbound connections. */
#include "cgi-common.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/pull.h"
#include "lib/state.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (LB_URL_MAX + 256)
#define BODY_SHAPE "the body must be {\"url\":\"http://...\"} or {\"url\":\"https://...\"}"

static atomic_bool cancel_requested;

/* Accepts exactly one JSON object with one "url" string member, whitespace allowed; of the
 * escapes only \" \\ and \/ (a URL needs no others). */
static bool parse_url(const char *p, char *ret, size_t size)
{
	size_t n = 0;
#define SKIP_SPACE() while (isspace((unsigned char)*p)) p++
	SKIP_SPACE();
	if (*p++ != '{')
		return false;
	SKIP_SPACE();
	if (strncmp(p, "\"url\"", 5) != 0)
		return false;
	p += 5;
	SKIP_SPACE();
	if (*p++ != ':')
		return false;
	SKIP_SPACE();
	if (*p++ != '"')
		return false;
	for (; *p != '"'; p++) {
		char c = *p;
		if (c == '\0' || (unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			c = *++p;
			if (c != '"' && c != '\\' && c != '/')
				return false;
		}
		if (n + 1 >= size)
			return false;
		ret[n++] = c;
	}
	ret[n] = '\0';
	p++;
	SKIP_SPACE();
	if (*p++ != '}')
		return false;
	SKIP_SPACE();
#undef SKIP_SPACE
	return *p == '\0';
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_error err = {0};
	static char body[BODY_MAX + 1];
	char url[LB_URL_MAX + 1];
	int lock_fd = -1;

	cgi_request_from_env(&req);
	if (cgi_refuse_unsafe_post(&req) || !cgi_load_config(&cfg))
		return 0;
	if (!req.content_type || strncasecmp(req.content_type, "application/json", 16) != 0) {
		cgi_error(415, "unsupported-media-type", "send {\"url\":\"https://...\"} as application/json", NULL);
		return 0;
	}
	ssize_t n = lb_read_full(STDIN_FILENO, body, BODY_MAX);
	if (n < 0 || n == BODY_MAX || !parse_url((body[n] = '\0', body), url, sizeof(url))) {
		cgi_error(400, "bad-request", BODY_SHAPE, NULL);
		return 0;
	}
	struct lb_url parsed;
	if (lb_url_parse(url, &parsed, &err) < 0) {
		cgi_error(400, "bad-request", err.message, NULL);
		return 0;
	}

	if (!cgi_take_install_lock(&cfg, &lock_fd))
		return 0;
	/* lighttpd signals a CGI whose client went away: the pull stops at its next read */
	cgi_cancel_on_termination(&cancel_requested);

	lb_log(cfg.log_file, "install-from-url", "pull of %s requested from %s", url, req.remote_addr);
	struct lb_pull_options opt = {.program = "install-from-url", .keep_state = true, .cancel = &cancel_requested};
	struct lb_pull_result res;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = lb_pull_install(&cfg, url, &opt, &res, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	char dir[LB_CONFIG_VALUE_MAX];
	lb_config_pull_dir(&cfg, dir, sizeof(dir));
	lb_pull_result_save(dir, &res); /* for `lifeboat status`, as a pull by request leaves it */
	if (r < 0) {
		const char *target_state = res.target_touched ? "invalid" : "untouched";
		/* the server the bundle comes from failed, not this request: 502, as a gateway says */
		if (err.code == LB_E_READ)
			cgi_error(502, lb_code_name(err.code), err.message, target_state);
		else
			cgi_error_from(&err, target_state);
		close(lock_fd);
		return 0;
	}
	const struct lb_install_result *ir = &res.install;
	cgi_begin(200);
	printf("{\"result\":\"installed\",\"version\":\"%s\",\"compatible\":\"%s\",\"image_bytes\":%llu,"
	       "\"bundle_size\":%llu,\"readback\":%s,\"seconds\":%.3f,\"reconnects\":%u,\"filesystems\":",
	       ir->version, ir->compatible, (unsigned long long)ir->image_bytes, (unsigned long long)ir->bundle_size,
	       ir->read_back ? "true" : "false",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, res.reconnects);
	lb_image_checks_json(ir->images, ir->image_count, stdout);
	printf("}\n");
	close(lock_fd);
	return 0;
}
