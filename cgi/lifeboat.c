/* lifeboat: the device's command-line tool. A verb table over the core library. */
#include "lib/boot-reason.h"
#include "lib/cmdline.h"
#include "lib/config.h"
#include "lib/delta-plan.h"
#include "lib/install.h"
#include "lib/io.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/pull.h"
#include "lib/self-check.h"
#include "lib/session.h"
#include "lib/state.h"
#include "lib/version.h"
#include "tool-output.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static const char *program = "lifeboat";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", program);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", program);
	return LB_E_USAGE;
}

/* Whether the session in `state_dir` belongs to the bundle open at `fd` (same size, same header
 * bytes); if so, `fd` is moved to the resume point. Any other bundle starts over, and the
 * installer then discards the session. */
static bool resume_point(int fd, const char *state_dir, struct lb_session *ret)
{
	struct lb_error err = {0};
	struct stat st;
	if (lb_session_load(state_dir, ret, &err) < 0)
		return false;
	_cleanup_free_ uint8_t *head = malloc(ret->header_size);
	bool same = head && fstat(fd, &st) == 0 && (uint64_t)st.st_size == ret->bundle_size &&
		    lb_pread_full(fd, head, ret->header_size, 0) == 0 && lb_session_matches(ret, head, ret->header_size) &&
		    lseek(fd, (off_t)ret->resume_offset, SEEK_SET) == (off_t)ret->resume_offset;
	if (!same)
		lb_session_free(ret);
	return same;
}

static int run_reboot_command(const struct lb_config *cfg, const char *target);

/* Anything with a scheme is taken for a URL (and one other than http or https refused with a
 * message saying so), not for a file name. */
static bool is_url(const char *s)
{
	const char *colon = strstr(s, "://");
	return colon && colon > s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+.-") == (size_t)(colon - s);
}

static atomic_bool pull_cancel;

static void on_stop_signal(int sig)
{
	(void)sig;
	atomic_store(&pull_cancel, true);
}

static void print_reconnect(void *userdata, const char *message)
{
	(void)userdata;
	fprintf(stderr, "%s: %s\n", program, message);
}

/* Whether main can be booted as it is after a pull that failed: it was not written to, and
 * the boot order still holds it with attempts left. Without boot control: no. */
static bool main_bootable(const struct lb_config *cfg, const struct lb_pull_result *res)
{
	struct lb_boot boot;
	struct lb_boot_state s;
	struct lb_error err = {0};
	bool configured;
	if (res->target_touched || lb_config_boot(cfg, &boot, &configured, &err) < 0 || !configured ||
	    lb_boot_load(&boot, &s, &err) < 0)
		return false;
	return lb_boot_attempts_left(&s, cfg->boot_slot) > 0;
}

/* `install URL` and `install --request`: the bundle pulled from a server, under the install
 * lock and with the state file kept current (the page and the kiosk show it), the outcome in
 * the pull directory's result file. With `request`, the URL comes from the request file that
 * `reboot-recovery --install` left, and the device reboots afterwards as docs/pull.md says. */
static int install_pull(struct lb_config *cfg, const char *url, bool request, bool reboot, bool json,
			unsigned threads, bool whole)
{
	struct lb_error err = {0};
	char dir[LB_CONFIG_VALUE_MAX], request_url[LB_URL_MAX + 1];
	lb_config_pull_dir(cfg, dir, sizeof(dir));
	if (request) {
		int r = lb_pull_request_take(dir, request_url, sizeof(request_url));
		if (r == -ENOENT) {
			if (!json)
				printf("no install request in %s\n", dir);
			return 0;
		}
		if (r < 0) {
			lb_error_set(&err, -r, LB_E_IO, "cannot take the install request in %s: %s", dir, strerror(-r));
			return tool_fail(program, &err, json, "untouched");
		}
		if (!request_url[0]) {
			lb_error_set(&err, EINVAL, LB_E_USAGE, "the install request in %s names no url", dir);
			return tool_fail(program, &err, json, "untouched");
		}
		url = request_url;
		lb_log(cfg->log_file, "pull", "install request found: %s", url);
	}

	_cleanup_close_ int lock_fd = -1;
	int r = mkdir(cfg->state_dir, 0755) < 0 && errno != EEXIST ? -errno : lb_state_lock(cfg->state_dir, &lock_fd);
	if (r < 0) {
		if (r == -EBUSY)
			lb_error_set(&err, EBUSY, LB_E_BUSY, "another install is running: wait for it to finish");
		else
			lb_error_set(&err, -r, LB_E_IO, "cannot take the install lock in %s: %s", cfg->state_dir,
				     strerror(-r));
		return tool_fail(program, &err, json, "untouched");
	}

	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct tool_progress tp;
	tool_progress_init(&tp, json);
	struct lb_pull_options opt = {
		.program = "pull",
		.keep_state = true,
		.cancel = &pull_cancel,
		.progress = tool_progress_update,
		.userdata = &tp,
		.on_reconnect = json ? NULL : print_reconnect,
		.threads = threads,
		.no_delta = whole,
		/* at boot the network may come up after this starts */
		.open_retry_seconds = request ? 90 : 0,
	};
	struct lb_pull_result res;
	r = lb_pull_install(cfg, url, &opt, &res, &err);
	tool_progress_finish(&tp);
	int saved = lb_pull_result_save(dir, &res);
	if (saved < 0)
		fprintf(stderr, "%s: cannot record the result in %s: %s\n", program, dir, strerror(-saved));
	close(TAKE_FD(lock_fd)); /* the reboot below must not find the install lock held */

	int code = 0;
	if (r < 0)
		code = tool_fail(program, &err, json, res.target_touched ? "invalid" : "untouched");
	else if (json)
		printf("{\"event\":\"result\",\"result\":\"installed\",\"version\":\"%s\",\"bundle_size\":%llu,"
		       "\"reconnects\":%u,\"seconds\":%.3f}\n",
		       res.version, (unsigned long long)res.bundle_size, res.reconnects, tool_now() - tp.start);
	else
		printf("installed version %s from %s: %.1f MiB pulled in %.1f s, %u reconnects\n", res.version, url,
		       (double)res.bundle_size / 1048576.0, tool_now() - tp.start, res.reconnects);
	if (!request || !reboot)
		return code;
	/* Back to main when it holds something bootable: the new version, or the old one that a
	 * failure before the first write left in place. Otherwise the recovery stays up and shows
	 * the failure. */
	if (r == 0 || main_bootable(cfg, &res)) {
		lb_log(cfg->log_file, "pull", "rebooting into main (%s)", r == 0 ? "installed" : "main untouched");
		fflush(stdout);
		if (run_reboot_command(cfg, "main") != 0)
			return code ? code : LB_E_INTERNAL;
	} else
		lb_log(cfg->log_file, "pull", "staying in the recovery: main was partly written; install again");
	return code;
}

static int verb_install(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},   {"keyring", required_argument, NULL, 'k'},
		{"compatible", required_argument, NULL, 'C'}, {"target", required_argument, NULL, 't'},
		{"no-readback", no_argument, NULL, 'R'},     {"allow-unsigned", no_argument, NULL, 'U'},
		{"threads", required_argument, NULL, 'j'},   {"json", no_argument, NULL, 'J'},
		{"resume", no_argument, NULL, 'r'},          {"help", no_argument, NULL, 'h'},
		{"ca", required_argument, NULL, 'A'},        {"request", no_argument, NULL, 'Q'},
		{"no-reboot", no_argument, NULL, 'N'},       {"whole", no_argument, NULL, 'W'},
		{0},
	};
	const char *config_path = LB_CONFIG_DEFAULT_PATH;
	bool config_optional = true, json = false, no_readback = false, allow_unsigned = false, resume = false;
	bool request = false, reboot = true, whole = false;
	const char *keyring = NULL, *compatible = NULL, *ca = NULL;
	const char *target_args[LB_IMAGES_MAX];
	unsigned target_arg_count = 0, threads = 0;
	struct lb_error err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			config_optional = false;
			break;
		case 'k':
			keyring = optarg;
			break;
		case 'C':
			compatible = optarg;
			break;
		case 't':
			if (target_arg_count == LB_IMAGES_MAX)
				return usage_error("too many --target options%s", "");
			target_args[target_arg_count++] = optarg;
			break;
		case 'R':
			no_readback = true;
			break;
		case 'U':
			allow_unsigned = true;
			break;
		case 'j':
			threads = (unsigned)atoi(optarg);
			break;
		case 'J':
			json = true;
			break;
		case 'r':
			resume = true;
			break;
		case 'A':
			ca = optarg;
			break;
		case 'Q':
			request = true;
			break;
		case 'N':
			reboot = false;
			break;
		case 'W':
			whole = true;
			break;
		case 'h':
			printf("Usage: %s install [OPTIONS] BUNDLE|-|URL\n"
			       "       %s install [OPTIONS] --request [--no-reboot]\n\n"
			       "Verifies a bundle and writes its images onto their targets as it streams in.\n\n"
			       "  --config FILE          configuration (default %s)\n"
			       "  --keyring DIR|FILE     trusted public keys\n"
			       "  --compatible STR       this device's board string\n"
			       "  --target ROLE=DEVICE   where the image of ROLE goes (repeatable)\n"
			       "  --no-readback          skip reading the written images back\n"
			       "  --allow-unsigned       accept unsigned bundles (development only)\n"
			       "  --threads N            worker threads (default: one per CPU)\n"
			       "  --json                 progress and result as JSON lines on stdout\n"
			       "  --resume               keep an upload session in the state directory, and\n"
			       "                         continue the one left there for this very bundle\n"
			       "                         (cut here or over HTTP) instead of starting over\n"
			       "  --ca FILE              with an https:// URL: trust the CA(s) in this PEM file\n"
			       "                         instead of the system's (configuration: pull-ca)\n"
			       "  --request              (recovery) install from the URL of the request that\n"
			       "                         `reboot-recovery --install` left in pull-dir, record the\n"
			       "                         result there, and reboot into main when main is bootable\n"
			       "  --no-reboot            with --request: do not reboot afterwards\n"
			       "  --whole                with a URL: download the whole bundle, even when main\n"
			       "                         holds parts of it\n\n"
			       "A URL (http:// or https://) is pulled from the server, resuming by Range when the\n"
			       "connection drops, and only the parts main lacks when it holds enough of the new\n"
			       "images (a delta); the result goes to pull-dir's install-result (lifeboat status).\n",
			       program, program, LB_CONFIG_DEFAULT_PATH);
			return 0;
		default:
			return LB_E_USAGE;
		}
	}
	if (request ? optind != argc : optind != argc - 1)
		return usage_error(request ? "install --request takes no BUNDLE: the URL comes from the request file%s"
					   : "install takes one BUNDLE (or - for standard input, or a URL)%s",
				   "");
	const char *bundle_path = request ? "" : argv[optind];
	bool pull = request || is_url(bundle_path);
	if (resume && pull)
		return usage_error("--resume is for a bundle file; a pull from a URL resumes by itself%s", "");
	if (ca && !pull)
		return usage_error("--ca is for a bundle pulled from an https:// URL%s", "");
	if (whole && !pull)
		return usage_error("--whole is for a bundle pulled from a URL%s", "");
	if (resume && strcmp(bundle_path, "-") == 0)
		return usage_error("--resume reads the bundle from a file, not from standard input%s", "");

	struct lb_config cfg;
	lb_config_defaults(&cfg);
	if (lb_config_load(&cfg, config_path, config_optional, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	for (unsigned i = 0; i < target_arg_count; i++)
		if (lb_config_set_target(&cfg, target_args[i], &err) < 0)
			return tool_fail(program, &err, json, NULL);
	if (keyring)
		snprintf(cfg.keyring, sizeof(cfg.keyring), "%s", keyring);
	if (compatible)
		snprintf(cfg.compatible, sizeof(cfg.compatible), "%s", compatible);
	if (no_readback)
		cfg.readback = false;
	if (allow_unsigned)
		cfg.allow_unsigned = true;
	if (ca)
		snprintf(cfg.pull_ca, sizeof(cfg.pull_ca), "%s", ca);
	if (pull)
		return install_pull(&cfg, request ? NULL : bundle_path, request, reboot, json, threads, whole);

	/* A missing keyring is only fatal once a signed bundle needs it; the installer says so. */
	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	if (lb_keyring_load(cfg.keyring, &keys, &key_err) < 0 && !cfg.allow_unsigned && access(cfg.keyring, F_OK) == 0)
		return tool_fail(program, &key_err, json, "untouched");

	struct lb_target_spec specs[LB_IMAGES_MAX];
	struct lb_boot boot;
	bool boot_configured;
	if (lb_config_boot(&cfg, &boot, &boot_configured, &err) < 0) {
		lb_keyring_free(keys);
		return tool_fail(program, &err, json, "untouched");
	}

	_cleanup_close_ int fd = strcmp(bundle_path, "-") == 0 ? dup(STDIN_FILENO)
							       : open(bundle_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lb_error_set(&err, errno, LB_E_IO, "cannot open %s: %s", bundle_path, strerror(errno));
		lb_keyring_free(keys);
		return tool_fail(program, &err, json, "untouched");
	}
	lb_pipe_widen(fd);
	struct lb_input in;
	lb_input_init_fd(&in, &fd);

	/* A session is only touched under the install lock, as the web installer holds it. */
	_cleanup_close_ int lock_fd = -1;
	struct lb_session session = {0};
	bool resuming = false;
	if (resume) {
		int r = mkdir(cfg.state_dir, 0755) < 0 && errno != EEXIST ? -errno : lb_state_lock(cfg.state_dir, &lock_fd);
		if (r < 0) {
			lb_keyring_free(keys);
			if (r == -EBUSY)
				lb_error_set(&err, EBUSY, LB_E_BUSY, "another install is running: wait for it to finish");
			else
				lb_error_set(&err, -r, LB_E_IO, "cannot take the install lock in %s: %s", cfg.state_dir,
					     strerror(-r));
			return tool_fail(program, &err, json, "untouched");
		}
		resuming = resume_point(fd, cfg.state_dir, &session);
		if (resuming && !json)
			fprintf(stderr, "%s: resuming version %s at %u %% (byte %llu of %llu)\n", program, session.version,
				(unsigned)(session.resume_offset * 100 / session.bundle_size),
				(unsigned long long)session.resume_offset, (unsigned long long)session.bundle_size);
	}

	/* A delta plan describes what main holds now: used by no install but the delta upload it
	 * was made for, and void once this one writes main (as for a full upload or a pull). */
	lb_delta_plan_discard(cfg.state_dir);

	struct tool_progress tp;
	tool_progress_init(&tp, json);
	struct lb_install_options opt = {
		.keyring = keys,
		.threads = threads,
		.progress = tool_progress_update,
		.userdata = &tp,
		.session_dir = resume ? cfg.state_dir : NULL,
		.resume = resuming ? &session : NULL,
	};
	lb_config_install_options(&cfg, specs, boot_configured ? &boot : NULL, &opt);
	struct lb_install_result res;
	int r = lb_install(&in, &opt, &res, &err);
	tool_progress_finish(&tp);
	lb_keyring_free(keys);
	lb_session_free(&session);
	if (r < 0) {
		if (res.resumable && !json)
			fprintf(stderr, "%s: the session is kept: the same command resumes at byte %llu\n", program,
				(unsigned long long)res.resume_offset);
		return tool_fail(program, &err, json, res.target_touched ? "invalid" : "untouched");
	}

	double seconds = tool_now() - tp.start;
	if (json) {
		printf("{\"event\":\"result\",\"result\":\"installed\",\"version\":\"%s\",\"compatible\":\"%s\","
		       "\"image_bytes\":%llu,\"bundle_size\":%llu,\"readback\":%s,\"seconds\":%.3f,\"filesystems\":",
		       res.version, res.compatible, (unsigned long long)res.image_bytes,
		       (unsigned long long)res.bundle_size, res.read_back ? "true" : "false", seconds);
		lb_image_checks_json(res.images, res.image_count, stdout);
		printf("}\n");
		return 0;
	}
	printf("installed version %s (%s): %.1f MiB written and %s in %.1f s (%.0f MB/s)\n", res.version,
	       res.compatible, (double)res.image_bytes / 1048576.0,
	       res.read_back ? "read back" : "verified (read-back skipped)", seconds,
	       (double)res.image_bytes / seconds / 1e6);
	for (unsigned i = 0; i < res.image_count; i++) {
		char line[512];
		lb_image_check_describe(&res.images[i], line, sizeof(line));
		if (*line)
			printf("%s\n", line);
	}
	return 0;
}


/* The options every boot verb takes (--config FILE, --slot NAME, --json) and the configured boot
 * control. Returns false when the verb is done already (help shown, or an error printed), with
 * the exit code in *ret_exit. */
static bool boot_setup(int argc, char **argv, const char *usage, struct lb_config *cfg, struct lb_boot *boot,
		       bool *ret_json, const char **ret_slot, int *ret_exit)
{
	const char *config_path = LB_CONFIG_DEFAULT_PATH;
	struct lb_error err = {0};
	*ret_json = false;
	*ret_slot = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_path = argv[++i];
		else if (!strcmp(argv[i], "--slot") && i + 1 < argc)
			*ret_slot = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			*ret_json = true;
		else if (!strcmp(argv[i], "--help")) {
			printf("%s", usage);
			*ret_exit = 0;
			return false;
		} else {
			*ret_exit = usage_error("unknown option %s", argv[i]);
			return false;
		}
	}
	lb_config_defaults(cfg);
	bool configured;
	if (lb_config_load(cfg, config_path, false, &err) < 0 || lb_config_boot(cfg, boot, &configured, &err) < 0) {
		*ret_exit = tool_fail(program, &err, *ret_json, NULL);
		return false;
	}
	if (!configured) {
		lb_error_set(&err, EINVAL, LB_E_USAGE, "%s sets no boot-backend: this device has no boot control",
			     config_path);
		*ret_exit = tool_fail(program, &err, *ret_json, NULL);
		return false;
	}
	if (!*ret_slot)
		*ret_slot = cfg->boot_slot;
	return true;
}

/* The slot the running system was booted as, from the kernel command line (lifeboat.slot=),
 * which the boot loader sets; "" when absent. */
static void booted_slot(char *ret, size_t size)
{
	_cleanup_free_ char *cmdline = lb_cmdline_read(NULL);
	ret[0] = '\0';
	if (cmdline)
		lb_cmdline_value(cmdline, "lifeboat.slot", ret, size);
}

#define BOOT_OPTIONS "  --config FILE   configuration (default " LB_CONFIG_DEFAULT_PATH ")\n  --slot NAME     the main slot (default: boot-slot)\n"

static void print_time(int64_t t);

static int verb_status(int argc, char **argv)
{
	struct lb_config cfg;
	struct lb_boot boot;
	struct lb_boot_state s;
	struct lb_error err = {0};
	bool json;
	const char *slot;
	int code;
	if (!boot_setup(argc, argv,
			   "Usage: lifeboat status [--config FILE] [--json]\n\nShows the boot state: order, attempts left, "
			   "a pending one-shot boot into the recovery, what is running, and how the last pull\n"
			   "from a URL ended (pull-dir's install-result).\n" BOOT_OPTIONS,
			   &cfg, &boot, &json, &slot, &code))
		return code;
	if (lb_boot_load(&boot, &s, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	char booted[32], dir[LB_CONFIG_VALUE_MAX];
	booted_slot(booted, sizeof(booted));
	/* the last pull's outcome, which the recovery leaves on the data partition */
	struct lb_pull_result pull;
	lb_config_pull_dir(&cfg, dir, sizeof(dir));
	lb_pull_result_load(dir, &pull);
	if (json) {
		printf("{\"backend\":\"%s\",\"booted\":", lb_boot_backend_name(&boot));
		lb_json_string(stdout, booted);
		printf(",\"order\":[");
		for (unsigned i = 0; i < s.order_count; i++)
		{
			printf("%s{\"slot\":\"%s\",\"attempts_left\":%u,\"version\":", i ? "," : "", s.order[i], s.left[i]);
			lb_json_string(stdout, s.version[i]);
			printf("}");
		}
		printf("],\"oneshot_recovery\":%s,\"attempts\":%u,\"version\":\"%s\",\"last_pull\":",
		       s.oneshot_recovery ? "true" : "false", boot.attempts, LB_VERSION);
		lb_pull_result_json(&pull, stdout);
		printf("}\n");
		return 0;
	}
	printf("boot backend:  %s (%s)\nrunning:       %s\nboot order:   ", lb_boot_backend_name(&boot), boot.env_path,
	       booted[0] ? booted : "unknown (no lifeboat.slot= on the kernel command line)");
	for (unsigned i = 0; i < s.order_count; i++)
		printf(" %s (version %s, %u of %u attempts left)", s.order[i], s.version[i][0] ? s.version[i] : "unknown",
		       s.left[i], boot.attempts);
	printf(" recovery\nnext boot:     %s\n",
	       s.oneshot_recovery ? "recovery, once (requested)"
	       : s.order_count && s.left[0] ? s.order[0]
					    : "recovery (no main slot has attempts left)");
	if (pull.known) {
		printf("last pull:     %s%s%s%s%s, ", pull.result, pull.version[0] ? " version " : "", pull.version,
		       pull.code[0] ? " (" : "", pull.code);
		print_time(pull.time);
		printf("%s\n  from %s\n  %s\n", pull.code[0] ? ")" : "", pull.url, pull.message);
	}
	return 0;
}

static int verb_mark_good(int argc, char **argv)
{
	struct lb_config cfg;
	struct lb_boot boot;
	struct lb_error err = {0};
	bool json;
	const char *slot;
	int code;
	if (!boot_setup(argc, argv,
			   "Usage: lifeboat mark-good [--config FILE] [--slot NAME]\n\nTells the boot loader that "
			   "this boot of main is healthy: its attempts are restored.\n" BOOT_OPTIONS,
			   &cfg, &boot, &json, &slot, &code))
		return code;
	if (lb_boot_mark_good(&boot, slot, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	printf("%s marked good: %u attempts\n", slot, boot.attempts);
	return 0;
}

/* Runs "COMMAND TARGET" through the shell; the command only reboots, the boot state is set. */
static int run_reboot_command(const struct lb_config *cfg, const char *target)
{
	char cmd[LB_CONFIG_VALUE_MAX + 32];
	snprintf(cmd, sizeof(cmd), "%s %s", cfg->reboot_command, target);
	int r = system(cmd);
	if (r != 0) {
		fprintf(stderr, "%s: the reboot command '%s' failed (status %d)\n", program, cmd, r);
		return LB_E_INTERNAL;
	}
	return 0;
}

static int verb_reboot_recovery(int argc, char **argv)
{
	struct lb_config cfg;
	struct lb_boot boot;
	struct lb_error err = {0};
	bool json, no_reboot = false;
	const char *slot, *url = NULL;
	/* --no-reboot and --install are ours; boot_setup takes the rest */
	char *args[32];
	int n = 0;
	for (int i = 0; i < argc && n < 32; i++) {
		if (!strcmp(argv[i], "--no-reboot"))
			no_reboot = true;
		else if (!strcmp(argv[i], "--install")) {
			if (i + 1 == argc)
				return usage_error("--install needs a URL (http:// or https://) of the bundle%s", "");
			url = argv[++i];
		} else
			args[n++] = argv[i];
	}
	int code;
	if (!boot_setup(n, args,
			   "Usage: lifeboat reboot-recovery [--config FILE] [--no-reboot] [--install URL]\n\nReboots "
			   "into the recovery once; the boot after that is main again.\n  --no-reboot     only set the "
			   "one-shot boot\n  --install URL   the recovery pulls the bundle at URL, installs it and "
			   "reboots\n                  into main (the request goes to pull-dir; see docs/pull.md)\n" BOOT_OPTIONS,
			   &cfg, &boot, &json, &slot, &code))
		return code;
	if (url) {
		char dir[LB_CONFIG_VALUE_MAX];
		lb_config_pull_dir(&cfg, dir, sizeof(dir));
		if (lb_pull_request_write(dir, url, (int64_t)time(NULL), &err) < 0)
			return tool_fail(program, &err, json, NULL);
		printf("install request left in %s: the recovery pulls %s\n", dir, url);
	}
	if (lb_boot_set_oneshot_recovery(&boot, true, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	printf("the next boot goes to the recovery, once\n");
	fflush(stdout);
	return no_reboot ? 0 : run_reboot_command(&cfg, "recovery");
}

/* On a Raspberry Pi card the recovery hands over to main only when the firmware started it: a
 * Pi 3 boots through U-Boot (config.txt's [pi3]), which counts main's attempts and chooses
 * itself, and says so on the command line (lifeboat.loader=u-boot, overlay/boot/u-boot/boot.cmd).
 * A hand-over there would spend an attempt and reboot into U-Boot's own choice again. */
static int verb_boot_handover(int argc, char **argv)
{
	struct lb_config cfg;
	struct lb_boot boot;
	struct lb_error err = {0};
	bool json, try_main;
	const char *slot, *cmdline_path = NULL;
	char loader[32];
	int code;
	/* --cmdline FILE is this verb's own; the others are every boot verb's (boot_setup) */
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--cmdline")) {
			cmdline_path = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
			argc -= 2;
			break;
		}
	if (!boot_setup(argc, argv,
			   "Usage: lifeboat boot-handover [--config FILE] [--cmdline FILE]\n\nRaspberry Pi: run early by "
			   "the recovery. Exit 0 and print 'main' when main should be tried now (its attempt is "
			   "counted), exit 0 and print 'recovery' to stay (always when U-Boot started the recovery: "
			   "lifeboat.loader=u-boot on the command line).\n" BOOT_OPTIONS
			   "  --cmdline FILE  the kernel command line (default /proc/cmdline)\n",
			   &cfg, &boot, &json, &slot, &code))
		return code;
	_cleanup_free_ char *cmdline = lb_cmdline_read(cmdline_path);
	if (cmdline && lb_cmdline_value(cmdline, "lifeboat.loader", loader, sizeof(loader)) &&
	    !strcmp(loader, "u-boot")) {
		fprintf(stderr, "%s: U-Boot started this recovery and counts main's attempts itself: no hand-over\n",
			program);
		printf("recovery\n");
		return 0;
	}
	if (lb_boot_rpi_handover(&boot, slot, &try_main, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	printf("%s\n", try_main ? "main" : "recovery");
	return 0;
}

/* The configuration for the recovery's boot-time verbs: the default file is optional there
 * (development machines have none), a named one must exist. */
static int load_config(const char *path, struct lb_config *cfg, bool json)
{
	struct lb_error err = {0};
	lb_config_defaults(cfg);
	if (lb_config_load(cfg, path ? path : LB_CONFIG_DEFAULT_PATH, path == NULL, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	return 0;
}

static int verb_self_check(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'}, {"device", required_argument, NULL, 'd'},
		{"expect", required_argument, NULL, 'e'}, {"cmdline", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'J'},         {"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config_path = NULL;
	struct lb_self_check_options opt = {0};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			opt.device = optarg;
			break;
		case 'e':
			opt.expected = optarg;
			break;
		case 'k':
			opt.cmdline_path = optarg;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			printf("Usage: %s self-check [OPTIONS]\n\n"
			       "Checks that the recovery image is the one built: the SHA-256 of the squashfs's own\n"
			       "bytes against the one recorded at build time. The result goes to the state directory\n"
			       "(/api/status, the kiosk). Exit 0: ok, or no recorded hash; %d: damaged; %d: unreadable.\n\n"
			       "  --config FILE    configuration (default %s; its state-dir)\n"
			       "  --device DEV     the recovery's device (default: the one mounted at /, else root=)\n"
			       "  --expect HEX     the recorded SHA-256 (default: lifeboat.sha256= of the command line)\n"
			       "  --cmdline FILE   the kernel command line (default /proc/cmdline)\n"
			       "  --json           the result as JSON on stdout\n",
			       program, LB_E_RECOVERY_DAMAGED, LB_E_IO, LB_CONFIG_DEFAULT_PATH);
			return 0;
		default:
			return LB_E_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("self-check takes no arguments (%s)", argv[optind]);
	struct lb_config cfg;
	int r = load_config(config_path, &cfg, json);
	if (r)
		return r;

	struct lb_self_check check;
	lb_self_check_run(&opt, &check);
	/* the state directory lives in /run and may not be there yet this early in the boot */
	if (mkdir(cfg.state_dir, 0755) < 0 && errno != EEXIST)
		fprintf(stderr, "%s: cannot make %s: %s\n", program, cfg.state_dir, strerror(errno));
	else if ((r = lb_self_check_save(cfg.state_dir, &check)) < 0)
		fprintf(stderr, "%s: cannot save the result in %s: %s\n", program, cfg.state_dir, strerror(-r));

	if (json) {
		lb_self_check_json(&check, stdout);
		putchar('\n');
	} else {
		printf("recovery image: %s: %s (%.2f s)\n", lb_self_check_result_name(check.result), check.message,
		       check.seconds);
		if (check.sha256[0])
			printf("  sha256   %s (%" PRIu64 " bytes)\n", check.sha256, check.hashed_bytes);
		if (check.expected[0] && check.result != LB_SELF_CHECK_OK)
			printf("  recorded %s\n", check.expected);
	}
	return check.result == LB_SELF_CHECK_MISMATCH	? LB_E_RECOVERY_DAMAGED
	       : check.result == LB_SELF_CHECK_UNREADABLE ? LB_E_IO
							  : 0;
}

static void print_time(int64_t t)
{
	char text[64];
	time_t tt = (time_t)t;
	struct tm tm;
	if (t > 0 && gmtime_r(&tt, &tm) && strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm))
		printf("%s", text);
	else
		printf("an unknown time");
}

static int verb_boot_reason(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'}, {"record", no_argument, NULL, 'r'},
		{"cmdline", required_argument, NULL, 'k'}, {"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},          {0},
	};
	const char *config_path = NULL, *cmdline_path = NULL;
	bool json = false, record = false;
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			record = true;
			break;
		case 'k':
			cmdline_path = optarg;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			printf("Usage: %s boot-reason [OPTIONS]\n\n"
			       "Shows why the boot loader started the recovery (lifeboat.reason=) and the last boot\n"
			       "that was a failure, kept in the log directory (log-file's) across boots.\n\n"
			       "  --config FILE    configuration (default %s)\n"
			       "  --record         keep this boot's reason when it is a failure, and log it\n"
			       "  --cmdline FILE   the kernel command line (default /proc/cmdline)\n"
			       "  --json           as JSON on stdout\n",
			       program, LB_CONFIG_DEFAULT_PATH);
			return 0;
		default:
			return LB_E_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("boot-reason takes no arguments (%s)", argv[optind]);
	struct lb_config cfg;
	int r = load_config(config_path, &cfg, json);
	if (r)
		return r;

	_cleanup_free_ char *cmdline = lb_cmdline_read(cmdline_path);
	char word[LB_BOOT_REASON_WORD_MAX], boot_id[40], dir[LB_CONFIG_VALUE_MAX];
	lb_boot_reason_parse(cmdline ? cmdline : "", word, sizeof(word));
	lb_boot_id(boot_id, sizeof(boot_id));
	lb_log_dir(cfg.log_file, dir, sizeof(dir));
	if (record) {
		bool recorded;
		r = lb_boot_failure_record(dir, cmdline ? cmdline : "", boot_id, (int64_t)time(NULL), &recorded);
		if (r < 0) {
			struct lb_error err = {0};
			lb_error_set(&err, -r, LB_E_IO, "cannot keep the boot's failure in %s: %s", dir, strerror(-r));
			return tool_fail(program, &err, json, NULL);
		}
		lb_log(cfg.log_file, "boot", "recovery started: %s%s%s%s", word[0] ? word : "no reason given",
		       word[0] ? " (" : "", word[0] ? lb_boot_reason_text(word) : "", word[0] ? ")" : "");
	}
	struct lb_boot_failure failure;
	if ((r = lb_boot_failure_load(dir, boot_id, &failure)) < 0) {
		struct lb_error err = {0};
		lb_error_set(&err, -r, LB_E_IO, "cannot read the kept failure in %s: %s", dir, strerror(-r));
		return tool_fail(program, &err, json, NULL);
	}
	if (json) {
		printf("{\"reason\":");
		lb_json_string(stdout, word);
		printf(",\"last_failure\":");
		lb_boot_failure_json(&failure, stdout);
		printf("}\n");
		return 0;
	}
	printf("this boot:    %s (%s)\n", word[0] ? word : "none", lb_boot_reason_text(word));
	if (!failure.known)
		printf("last failure: none kept in %s\n", dir);
	else {
		printf("last failure: %s (%s) at ", failure.reason, lb_boot_reason_text(failure.reason));
		print_time(failure.time);
		printf("%s\n", failure.this_boot ? ", this boot" : "");
	}
	return 0;
}

static const struct tool_verb verbs[] = {
	{"install", verb_install, "verify a bundle and write it onto its targets"},
	{"status", verb_status, "show the boot state and what is running"},
	{"mark-good", verb_mark_good, "tell the boot loader that this boot of main is healthy"},
	{"reboot-recovery", verb_reboot_recovery, "reboot into the recovery once"},
	{"boot-handover", verb_boot_handover, "(Raspberry Pi recovery) decide whether to try main now"},
	{"self-check", verb_self_check, "(recovery) check the recovery image against its recorded hash"},
	{"boot-reason", verb_boot_reason, "(recovery) why it was booted, and the last failed boot"},
};

int main(int argc, char **argv)
{
	return tool_dispatch(program, verbs, ELEMENTSOF(verbs), argc, argv);
}
