/* lifeboat-kiosk: the recovery's status screen on the HDMI console (tty1). It shows why the
 * device is in the recovery, where to open its web page, what an install is doing and what
 * main holds; Enter reboots into main when main can start, L shows the log, R redraws.
 *
 * The screen is drawn off-screen (kiosk-view.c) and only changed rows are written
 * (kiosk-frame.c). A terminal without cursor control (TERM dumb or unset, output not a
 * terminal, a screen smaller than 40x10) gets one plain status line whenever something
 * changes instead. Everything is read again twice a second: the status file, the addresses,
 * the boot state. */
#include "kiosk-frame.h"
#include "kiosk-model.h"
#include "kiosk-view.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/macro.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "lifeboat-kiosk"
#define TICK_MS 500
#define REWRITE_SECONDS 30 /* on the Linux console, every row is written again now and then */
#define NOTICE_SECONDS 10
#define LOG_TAIL_BYTES (64 << 10)
#define PLAIN_LOG_LINES 20

static volatile sig_atomic_t got_quit, got_winch;

struct kiosk {
	struct lb_config cfg;
	struct lb_boot boot;
	char boot_error[LB_ERROR_MESSAGE_MAX];
	struct kiosk_sources src;
	struct kiosk_model model;
	struct kiosk_ui ui;
	char *log_text;
	char log_error[LB_CONFIG_VALUE_MAX + 64];
	double notice_until; /* 0: the notice stays */
	pid_t reboot_pid;

	bool keys; /* standard input is a terminal we read keys from */
	bool raw;  /* its settings were changed, and `saved` restores them */
	struct termios saved;
	bool fancy; /* the full screen is shown (else plain lines) */
	struct kiosk_frame shown, next;
	bool shown_valid; /* `shown` is what the screen holds */
	double last_rewrite;
	char last_line[2048];
	bool output_failed;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_quit = 1;
}

/* Writes everything at once: a frame reaches the terminal in one piece. */
static void out(struct kiosk *k, const char *data, size_t size)
{
	if (size && lb_write_full(STDOUT_FILENO, data, size) < 0)
		k->output_failed = true;
}

static void out_str(struct kiosk *k, const char *s)
{
	out(k, s, strlen(s));
}

static void set_notice(struct kiosk *k, bool error, bool stays, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_notice(struct kiosk *k, bool error, bool stays, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->ui.notice, sizeof(k->ui.notice), fmt, ap);
	va_end(ap);
	k->ui.notice_is_error = error;
	k->notice_until = stays ? 0 : now_mono() + NOTICE_SECONDS;
	if (!k->fancy) {
		out_str(k, k->ui.notice);
		out_str(k, "\n");
	}
}

/* ---- the terminal ---- */

static bool term_is_dumb(void)
{
	const char *term = getenv("TERM");
	return !term || !*term || !strcmp(term, "dumb");
}

/* The screen's size when it can take the full-screen view. */
static bool fancy_size(unsigned *ret_w, unsigned *ret_h)
{
	struct winsize ws;
	if (term_is_dumb() || !isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		return false;
	if (!kiosk_view_fits(ws.ws_col, ws.ws_row))
		return false;
	*ret_w = ws.ws_col < KIOSK_FRAME_MAX_WIDTH ? ws.ws_col : KIOSK_FRAME_MAX_WIDTH;
	*ret_h = ws.ws_row < KIOSK_FRAME_MAX_HEIGHT ? ws.ws_row : KIOSK_FRAME_MAX_HEIGHT;
	return true;
}

static bool term_is_linux_console(void)
{
	const char *term = getenv("TERM");
	return term && !strcmp(term, "linux");
}

static void enter_fancy(struct kiosk *k)
{
	/* alternate screen, no cursor, no autowrap (the bottom right cell must not scroll) */
	out_str(k, "\033[?1049h\033[?25l\033[?7l\033[0m\033[2J");
	/* The Linux console blanks and powers down an idle screen; a kiosk must not. */
	if (term_is_linux_console())
		out_str(k, "\033[9;0]\033[14;0]");
	k->fancy = true;
	k->shown_valid = false;
}

static void leave_fancy(struct kiosk *k)
{
	out_str(k, "\033[0m\033[2J\033[H\033[?7h\033[?25h\033[?1049l");
	k->fancy = false;
	k->last_line[0] = '\0';
}

static void keys_raw(struct kiosk *k)
{
	struct termios t;
	k->keys = isatty(STDIN_FILENO);
	if (!k->keys || tcgetattr(STDIN_FILENO, &k->saved) < 0)
		return;
	t = k->saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* a key acts at once and leaves no trace */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	k->raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

static void keys_restore(struct kiosk *k)
{
	if (k->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &k->saved);
	k->raw = false;
}

/* ---- drawing ---- */

static void gather(struct kiosk *k)
{
	kiosk_model_gather(&k->model, &k->src);
	if (k->ui.screen == KIOSK_SCREEN_LOG) {
		size_t size;
		free(k->log_text);
		k->log_text = NULL;
		int r = lb_log_tail(k->cfg.log_file, LOG_TAIL_BYTES, &k->log_text, &size);
		if (r < 0)
			snprintf(k->log_error, sizeof(k->log_error), "not readable (%s: %s)", k->cfg.log_file,
				 strerror(-r));
		k->ui.log_text = k->log_text;
		k->ui.log_error = r < 0 ? k->log_error : NULL;
	}
}

static void draw_fancy(struct kiosk *k, unsigned w, unsigned h)
{
	if (k->next.width != w || k->next.height != h || !k->next.cells) {
		kiosk_frame_free(&k->next);
		if (kiosk_frame_init(&k->next, w, h) < 0)
			return;
	}
	kiosk_view_draw(&k->model, &k->ui, &k->next);

	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return;
	kiosk_frame_diff(k->shown_valid ? &k->shown : NULL, &k->next, f);
	if (fclose(f) != 0)
		return;
	out(k, buf, size);

	struct kiosk_frame t = k->shown;
	k->shown = k->next;
	k->next = t;
	k->shown_valid = true;
}

static void draw_plain(struct kiosk *k, bool force)
{
	char line[sizeof(k->last_line)];
	kiosk_view_status_line(&k->model, line, sizeof(line));
	if (!force && !strcmp(line, k->last_line))
		return;
	snprintf(k->last_line, sizeof(k->last_line), "%s", line);
	out_str(k, line);
	out_str(k, "\n");
}

static void render(struct kiosk *k)
{
	unsigned w, h;
	bool fancy = fancy_size(&w, &h);
	if (fancy && !k->fancy)
		enter_fancy(k);
	else if (!fancy && k->fancy)
		leave_fancy(k);
	if (!fancy) {
		draw_plain(k, false);
		return;
	}
	/* Kernel messages land on tty1 too, behind the kiosk's back: what they overwrite is
	 * written again within a while, without clearing anything. */
	if (term_is_linux_console() && now_mono() - k->last_rewrite >= REWRITE_SECONDS) {
		k->shown_valid = false;
		k->last_rewrite = now_mono();
	}
	draw_fancy(k, w, h);
}

/* ---- actions ---- */

static void reap_reboot(struct kiosk *k)
{
	int status;
	if (k->reboot_pid <= 0 || waitpid(k->reboot_pid, &status, WNOHANG) != k->reboot_pid)
		return;
	k->reboot_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		set_notice(k, true, false, "The reboot command failed (%s %d): %s main",
			   WIFEXITED(status) ? "exit" : "signal",
			   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), k->cfg.reboot_command);
}

/* Enter: the same checks as POST /api/reboot, on the state as it is now. */
static void start_main(struct kiosk *k)
{
	char why[LB_ERROR_MESSAGE_MAX + 64];
	if (k->reboot_pid > 0)
		return;
	kiosk_model_gather(&k->model, &k->src);
	if (!kiosk_model_main_bootable(&k->model, why, sizeof(why))) {
		set_notice(k, true, false, "Main cannot start: %s. %s", why,
			   kiosk_model_install_active(&k->model) ? "Wait for it to finish."
			   : k->model.boot_error[0]		 ? "Check the boot partition."
								 : "Install a bundle first.");
		return;
	}
	if (k->src.boot) {
		struct lb_error err = {0};
		if (lb_boot_set_oneshot_recovery(k->src.boot, false, &err) < 0) {
			set_notice(k, true, false, "Main cannot start: %s", err.message);
			return;
		}
	}
	lb_log(k->cfg.log_file, "kiosk", "reboot into main requested at the console");

	char cmd[LB_CONFIG_VALUE_MAX + 16];
	snprintf(cmd, sizeof(cmd), "%s main", k->cfg.reboot_command);
	pid_t pid = fork();
	if (pid == 0) {
		/* the command must not write over the screen, nor read the keys */
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		set_notice(k, true, false, "Cannot run the reboot command: %s", strerror(errno));
		return;
	}
	k->reboot_pid = pid;
	set_notice(k, false, false, "Rebooting into main ...");
}

static void show_log(struct kiosk *k)
{
	if (k->fancy) {
		k->ui.screen = KIOSK_SCREEN_LOG;
		k->ui.log_path = k->cfg.log_file;
		gather(k);
		return;
	}
	/* plain lines: the last lines of the log, then the status again */
	_cleanup_free_ char *text = NULL;
	size_t size;
	int r = lb_log_tail(k->cfg.log_file, LOG_TAIL_BYTES, &text, &size);
	if (r < 0) {
		set_notice(k, true, false, "The log %s is not readable: %s", k->cfg.log_file, strerror(-r));
		return;
	}
	char *p = text + size;
	unsigned lines = 0;
	if (p > text && p[-1] == '\n')
		p--;
	while (p > text && !(p[-1] == '\n' && ++lines == PLAIN_LOG_LINES))
		p--;
	/* a log line is a person's text: it goes out without control characters */
	for (char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 ? *c != '\n' : (unsigned char)*c >= 0x7f)
			*c = '?';
	out_str(k, "--- log ");
	out_str(k, k->cfg.log_file);
	out_str(k, " ---\n");
	out_str(k, p);
	if (size && text[size - 1] != '\n')
		out_str(k, "\n");
	out_str(k, "--- end of log ---\n");
	draw_plain(k, true);
}

static void redraw(struct kiosk *k)
{
	gather(k);
	if (k->fancy) {
		out_str(k, "\033[0m\033[2J");
		k->shown_valid = false;
	} else
		draw_plain(k, true);
}

static void on_key(struct kiosk *k, unsigned char key)
{
	if (k->ui.screen == KIOSK_SCREEN_LOG) { /* any key returns */
		k->ui.screen = KIOSK_SCREEN_STATUS;
		return;
	}
	switch (key) {
	case '\r':
	case '\n':
		start_main(k);
		break;
	case 'l':
	case 'L':
		show_log(k);
		break;
	case 'r':
	case 'R':
	case 0x0c: /* Ctrl-L */
		redraw(k);
		break;
	default:
		set_notice(k, false, false, "Keys: Enter starts main, L shows the log, R redraws the screen");
		break;
	}
}

static void read_keys(struct kiosk *k)
{
	unsigned char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		k->keys = false; /* the terminal went away: go on showing */
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == 0x1b) /* an escape sequence (arrows, function keys): ignored whole */
			break;
		on_key(k, buf[i]);
	}
}

/* ---- main ---- */

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: " PROGRAM
		" [--state-dir DIR] [--config FILE] [--cmdline FILE] [--mdns-name NAME] [--once]\n\n"
		"The recovery's status screen for the console (tty1): why the device is in the recovery,\n"
		"the addresses of its web page, the install's progress, what main holds.\n"
		"Keys: Enter reboots into main (when main can start), L shows the log, R redraws.\n\n"
		"  --state-dir DIR   the status file's directory (default: state-dir of the configuration)\n"
		"  --config FILE     configuration (default %s)\n"
		"  --cmdline FILE    the kernel command line with lifeboat.reason= (default %s)\n"
		"  --mdns-name NAME  the name the page is announced as (default HOSTNAME-recovery.local)\n"
		"  --once            print the status line once and exit\n",
		LB_CONFIG_DEFAULT_PATH, KIOSK_CMDLINE_DEFAULT);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"state-dir", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
	    {"cmdline", required_argument, NULL, 'k'},	 {"once", no_argument, NULL, 'o'},
	    {"mdns-name", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	 {0},
	};
	static struct kiosk k; /* large; zero-initialized */
	const char *config_path = NULL, *state_dir = NULL;
	bool once = false;
	int c;

	k.src.cmdline_path = KIOSK_CMDLINE_DEFAULT;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			state_dir = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'k':
			k.src.cmdline_path = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'm':
			k.src.mdns_name = optarg;
			break;
		case 'h':
			return usage(stdout, 0);
		case 'V':
			printf(PROGRAM " %s\n", LB_VERSION);
			return 0;
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc)
		return usage(stderr, 2);

	/* A configuration that cannot be read must not leave the console empty: the kiosk goes on
	 * with the defaults and says what is wrong. */
	struct lb_error err = {0};
	lb_config_defaults(&k.cfg);
	bool config_ok = lb_config_load(&k.cfg, config_path ? config_path : LB_CONFIG_DEFAULT_PATH,
					!config_path, &err) == 0;
	char config_error[LB_ERROR_MESSAGE_MAX];
	snprintf(config_error, sizeof(config_error), "%s", err.message);
	if (state_dir)
		snprintf(k.cfg.state_dir, sizeof(k.cfg.state_dir), "%s", state_dir);
	bool boot_configured = false;
	struct lb_error boot_err = {0};
	if (lb_config_boot(&k.cfg, &k.boot, &boot_configured, &boot_err) < 0)
		snprintf(k.boot_error, sizeof(k.boot_error), "%s", boot_err.message);
	k.src.cfg = &k.cfg;
	k.src.boot = boot_configured && !k.boot_error[0] ? &k.boot : NULL;
	k.src.boot_error = k.boot_error[0] ? k.boot_error : NULL;

	if (once) {
		kiosk_model_gather(&k.model, &k.src);
		draw_plain(&k, true);
		if (!config_ok)
			fprintf(stderr, PROGRAM ": %s\n", config_error);
		return k.output_failed ? 1 : 0;
	}

	/* Signals arrive only inside ppoll(), so none is lost between a check and the wait. */
	sigset_t blocked, during_wait;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGWINCH);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigprocmask(SIG_BLOCK, &blocked, &during_wait);
	sigdelset(&during_wait, SIGWINCH);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGINT);
	sigdelset(&during_wait, SIGHUP);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	keys_raw(&k);
	if (!config_ok)
		set_notice(&k, true, true, "%s", config_error);
	k.last_rewrite = now_mono();
	while (!got_quit && !k.output_failed) {
		if (k.notice_until > 0 && now_mono() >= k.notice_until)
			k.ui.notice[0] = '\0';
		reap_reboot(&k);
		gather(&k);
		render(&k);

		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		struct timespec tick = {.tv_sec = TICK_MS / 1000, .tv_nsec = (TICK_MS % 1000) * 1000000L};
		int r = ppoll(&p, k.keys ? 1 : 0, &tick, &during_wait);
		if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			read_keys(&k);
		if (got_winch) {
			got_winch = 0;
			k.shown_valid = false;
		}
	}

	if (k.fancy)
		leave_fancy(&k);
	keys_restore(&k);
	kiosk_frame_free(&k.shown);
	kiosk_frame_free(&k.next);
	free(k.log_text);
	return k.output_failed ? 1 : 0;
}
