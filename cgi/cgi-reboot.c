/* POST /api/reboot {"target":"main"|"recovery"}: answers first, then runs the configured reboot
 * command with the target as its argument (boot control decides how the target is reached). */
#include "cgi-common.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/state.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Accepts exactly one JSON object with one "target" member, whitespace allowed. */
static const char *parse_target(const char *body)
{
	static const char *const targets[] = {"main", "recovery"};
	const char *p = body;
#define SKIP_SPACE() while (isspace((unsigned char)*p)) p++
	SKIP_SPACE();
	if (*p++ != '{')
		return NULL;
	SKIP_SPACE();
	if (strncmp(p, "\"target\"", 8) != 0)
		return NULL;
	p += 8;
	SKIP_SPACE();
	if (*p++ != ':')
		return NULL;
	SKIP_SPACE();
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(targets[i]);
		if (p[0] == '"' && !strncmp(p + 1, targets[i], n) && p[n + 1] == '"') {
			p += n + 2;
			SKIP_SPACE();
			if (*p++ != '}')
				return NULL;
			SKIP_SPACE();
			return *p ? NULL : targets[i];
		}
	}
#undef SKIP_SPACE
	return NULL;
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	char body[256];

	cgi_request_from_env(&req);
	if (cgi_refuse_unsafe_post(&req) || !cgi_load_config(&cfg))
		return 0;
	if (!req.content_type || strncasecmp(req.content_type, "application/json", 16) != 0) {
		cgi_error(415, "unsupported-media-type", "send {\"target\":\"main\"} as application/json", NULL);
		return 0;
	}
	ssize_t n = lb_read_full(STDIN_FILENO, body, sizeof(body) - 1);
	if (n < 0 || (size_t)n == sizeof(body) - 1) {
		cgi_error(400, "bad-request", "the body must be {\"target\":\"main\"} or {\"target\":\"recovery\"}", NULL);
		return 0;
	}
	body[n] = '\0';
	const char *target = parse_target(body);
	if (!target) {
		cgi_error(400, "bad-request", "the body must be {\"target\":\"main\"} or {\"target\":\"recovery\"}", NULL);
		return 0;
	}

	struct lb_state s;
	lb_state_load(cfg.state_dir, &s);
	if (lb_state_active(&s) && lb_state_locked(cfg.state_dir)) {
		cgi_error(409, "busy", "an install is running: wait for it to finish before rebooting", NULL);
		return 0;
	}
	if (!strcmp(target, "main") && !strcmp(s.main_state, "invalid")) {
		cgi_error(409, "main-invalid",
			  "main does not hold a complete system (the last install did not finish): install a "
			  "bundle first",
			  NULL);
		return 0;
	}

	/* With boot control, the boot state says where the reboot goes: main only while it is in
	 * the boot order with attempts left; the recovery through the one-shot flag. */
	struct lb_boot boot;
	struct lb_boot_state boot_state;
	struct lb_error err = {0};
	bool boot_configured;
	if (lb_config_boot(&cfg, &boot, &boot_configured, &err) < 0 ||
	    (boot_configured && lb_boot_load(&boot, &boot_state, &err) < 0)) {
		cgi_error_from(&err, NULL);
		return 0;
	}
	if (boot_configured && !strcmp(target, "main") && lb_boot_attempts_left(&boot_state, cfg.boot_slot) == 0) {
		cgi_error(409, "main-invalid",
			  "main is not bootable (an install did not finish, or it failed to boot too often): "
			  "install a bundle first",
			  NULL);
		return 0;
	}
	if (boot_configured && lb_boot_set_oneshot_recovery(&boot, !strcmp(target, "recovery"), &err) < 0) {
		cgi_error_from(&err, NULL);
		return 0;
	}

	lb_log(cfg.log_file, "reboot", "reboot into %s requested from %s", target, req.remote_addr);

	/* The command runs detached, in a session of its own, a second after the response went
	 * out. It is started before the response is written: lighttpd ends a CGI that is still
	 * running once its response is complete, and that must not catch the reboot half-started.
	 * The child tells through `sync` that it has left this session. */
	int sync[2];
	if (pipe(sync) < 0) {
		cgi_error(500, "internal", "cannot start the reboot command", NULL);
		return 0;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(sync[0]);
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO); /* the response pipe stays the parent's alone */
		dup2(null, STDERR_FILENO);
		close(sync[1]);
		sleep(1);
		char cmd[LB_CONFIG_VALUE_MAX + 32];
		snprintf(cmd, sizeof(cmd), "%s %s", cfg.reboot_command, target);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(sync[1]);
	char c;
	if (pid < 0) {
		cgi_error(500, "internal", "cannot start the reboot command", NULL);
		return 0;
	}
	(void)!read(sync[0], &c, 1); /* returns when the child closed its end: it is detached */

	cgi_begin(202);
	printf("{\"result\":\"rebooting\",\"target\":\"%s\"}\n", target);
	return 0;
}
