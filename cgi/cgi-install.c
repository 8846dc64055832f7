/* POST /api/install: streams the request body (the bundle, raw or as multipart/form-data) into
 * the installer, keeps the state file current for /api/status and the kiosk, and answers with
 * the result. One install at a time, by the lock in the state directory. */
#include "cgi-common.h"
#include "lib/install.h"
#include "lib/log.h"
#include "lib/multipart.h"
#include "lib/state.h"
#include "lib/version.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *program = "install";
static atomic_bool cancel_requested;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&cancel_requested, true);
}

/* Standard input, as lighttpd streams the request body into it. When the client goes away,
 * lighttpd signals this process: the blocked read is interrupted, and ends the install. */
static ssize_t read_request_body(void *ctx, void *buf, size_t size)
{
	(void)ctx;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, size);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
		if (atomic_load(&cancel_requested))
			return -ECONNABORTED;
	}
}

/* After an early error the rest of the body is read and dropped rather than left unread: a
 * connection closed under a client that is still sending is reset, and browsers answer a reset
 * by sending the whole POST again. curl stops sending once it has the error response; the page
 * stops when /api/status shows the failure. */
static void drain_request_body(const struct cgi_request *req, uint64_t received)
{
	static char sink[64 << 10];
	while (!atomic_load(&cancel_requested) && (!req->content_length || received < req->content_length)) {
		ssize_t n = read_request_body(NULL, sink, sizeof(sink));
		if (n <= 0)
			break;
		received += (uint64_t)n;
	}
}

struct session {
	const struct lb_config *cfg;
	struct lb_state state;
	double started;      /* the request's start */
	double rate_started; /* where the current rate is measured from */
	double last_save;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void save(struct session *s)
{
	lb_state_save(s->cfg->state_dir, &s->state);
	s->last_save = now();
}

static void on_progress(const struct lb_progress *p, void *userdata)
{
	struct session *s = userdata;
	struct lb_state *st = &s->state;
	bool phase_changed = st->state != (int)p->phase;
	double t = now();
	if (!phase_changed && t - s->last_save < 0.25)
		return;

	st->state = (int)p->phase;
	st->received = p->received;
	st->bundle_size = p->bundle_size;
	st->written = p->written;
	st->readback = p->readback;
	st->image_total = p->image_total;
	if (p->manifest) {
		snprintf(st->bundle_version, sizeof(st->bundle_version), "%s", p->manifest->version);
		snprintf(st->bundle_compatible, sizeof(st->bundle_compatible), "%s", p->manifest->compatible);
	}
	/* Rate and ETA follow what is being waited for: the upload, then the read-back. */
	double elapsed = t - s->rate_started;
	uint64_t done = p->phase == LB_PHASE_READBACK ? p->readback : p->received;
	uint64_t total = p->phase == LB_PHASE_READBACK ? p->image_total : p->bundle_size;
	st->mbps = elapsed > 0.2 ? (double)done / elapsed / 1e6 : 0;
	st->eta_seconds = st->mbps > 0 && total > done ? (int64_t)((double)(total - done) / (st->mbps * 1e6)) : -1;
	if (phase_changed && p->phase == LB_PHASE_READBACK)
		s->rate_started = t;
	snprintf(st->message, sizeof(st->message), "%s%s%s", lb_phase_name(p->phase),
		 st->bundle_version[0] ? " version " : "", st->bundle_version);
	save(s);
}

/* Called right before the first byte is written: from here on main is not a complete system. */
static int before_write(const struct lb_manifest *m, void *userdata, struct lb_error *err)
{
	struct session *s = userdata;
	(void)err;
	snprintf(s->state.main_state, sizeof(s->state.main_state), "invalid");
	s->state.main_version[0] = '\0';
	save(s);
	lb_log(s->cfg->log_file, program, "writing version %s onto main", m->version);
	return 0;
}

/* A cut upload reads as a truncated bundle; say what happened in the operator's words. */
static void explain_cut(const struct cgi_request *req, const struct session *s, struct lb_error *err)
{
	uint64_t total = s->state.bundle_size ? s->state.bundle_size : req->content_length;
	bool cut = atomic_load(&cancel_requested) || err->code == LB_E_CANCELLED ||
		   (err->code == LB_E_TRUNCATED && req->content_length && s->state.received < req->content_length);
	if (!cut)
		return;
	unsigned percent = total ? (unsigned)(s->state.received * 100 / total) : 0;
	err->code = LB_OK;
	lb_error_set(err, EPIPE, LB_E_TRUNCATED, "connection lost at %u %% (%llu of %llu bytes): upload again",
		     percent, (unsigned long long)s->state.received, (unsigned long long)total);
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_error err = {0};
	int lock_fd = -1;

	cgi_request_from_env(&req);
	if (cgi_refuse_unsafe_post(&req) || !cgi_load_config(&cfg))
		return 0;

	bool multipart = req.content_type && !strncasecmp(req.content_type, "multipart/form-data", 19);
	if (!multipart && req.content_type && strcasecmp(req.content_type, "application/octet-stream") != 0) {
		cgi_error(415, "unsupported-media-type",
			  "send the bundle as application/octet-stream (curl --upload-file FILE -X POST -H "
			  "'Content-Type: application/octet-stream') or as a multipart/form-data file field",
			  NULL);
		return 0;
	}

	int r = lb_state_lock(cfg.state_dir, &lock_fd);
	if (r == -EBUSY) {
		struct lb_state running;
		lb_state_load(cfg.state_dir, &running);
		char msg[LB_STATE_TEXT_MAX + 128];
		snprintf(msg, sizeof(msg), "another install is running (%s, %u %%): wait for it to finish",
			 running.message[0] ? running.message : "starting",
			 running.bundle_size ? (unsigned)(running.received * 100 / running.bundle_size) : 0);
		cgi_error(409, "busy", msg, "untouched");
		return 0;
	}
	if (r < 0) {
		lb_error_set(&err, -r, LB_E_INTERNAL, "cannot take the install lock in %s: %s", cfg.state_dir,
			     strerror(-r));
		cgi_error_from(&err, "untouched");
		return 0;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct session s = {.cfg = &cfg, .started = now()};
	s.rate_started = s.started;
	lb_state_load(cfg.state_dir, &s.state);
	s.state.state = LB_PHASE_RECEIVING;
	s.state.received = s.state.bundle_size = s.state.written = s.state.readback = s.state.image_total = 0;
	s.state.bundle_version[0] = s.state.bundle_compatible[0] = '\0';
	s.state.started = (int64_t)time(NULL);
	s.state.mbps = 0;
	s.state.eta_seconds = -1;
	snprintf(s.state.message, sizeof(s.state.message), "receiving");
	save(&s);
	lb_log(cfg.log_file, program, "upload from %s started (%llu bytes%s)", req.remote_addr,
	       (unsigned long long)req.content_length, multipart ? ", form" : "");

	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	lb_keyring_load(cfg.keyring, &keys, &key_err); /* no keys: the installer names the problem */

	struct lb_input raw = {.read = read_request_body}, in = raw;
	static struct lb_multipart mp;
	if (multipart) {
		if (lb_multipart_init(&mp, &raw, req.content_type, &err) < 0) {
			cgi_error(400, "bad-request", err.message, "untouched");
			return 0;
		}
		lb_multipart_input(&mp, &in);
	}

	struct lb_target_spec specs[LB_IMAGES_MAX];
	struct lb_boot boot;
	bool boot_configured = false;
	if (lb_config_boot(&cfg, &boot, &boot_configured, &err) < 0) {
		lb_keyring_free(keys);
		cgi_error_from(&err, "untouched");
		return 0;
	}
	struct lb_install_options opt = {
		.keyring = keys,
		.progress = on_progress,
		.userdata = &s,
		.cancel = &cancel_requested,
		.before_write = before_write,
	};
	lb_config_install_options(&cfg, specs, boot_configured ? &boot : NULL, &opt);
	struct lb_install_result res;
	r = lb_install(&in, &opt, &res, &err);
	lb_keyring_free(keys);
	if (r < 0 && multipart && lb_error_failed(&mp.err))
		err = mp.err;

	const char *target_state = res.target_touched ? "invalid" : "untouched";
	s.state.last_time = (int64_t)time(NULL);
	if (r < 0) {
		explain_cut(&req, &s, &err);
		s.state.state = LB_PHASE_FAILED;
		snprintf(s.state.message, sizeof(s.state.message), "%s", err.message);
		snprintf(s.state.last_result, sizeof(s.state.last_result), "failed");
		snprintf(s.state.last_code, sizeof(s.state.last_code), "%s", lb_code_name(err.code));
		snprintf(s.state.last_message, sizeof(s.state.last_message), "%s", err.message);
		save(&s);
		lb_log(cfg.log_file, program, "install failed (%s, main %s): %s", lb_code_name(err.code), target_state,
		       err.message);
		cgi_error_from(&err, target_state);
		drain_request_body(&req, s.state.received);
		return 0;
	}

	double seconds = now() - s.started;
	s.state.state = LB_PHASE_DONE;
	snprintf(s.state.message, sizeof(s.state.message), "installed version %s", res.version);
	snprintf(s.state.last_result, sizeof(s.state.last_result), "installed");
	s.state.last_code[0] = '\0';
	snprintf(s.state.last_message, sizeof(s.state.last_message), "installed version %s", res.version);
	snprintf(s.state.main_state, sizeof(s.state.main_state), "valid");
	snprintf(s.state.main_version, sizeof(s.state.main_version), "%s", res.version);
	snprintf(s.state.main_compatible, sizeof(s.state.main_compatible), "%s", res.compatible);
	s.state.main_installed_at = s.state.last_time;
	s.state.eta_seconds = 0;
	save(&s);
	lb_log(cfg.log_file, program, "installed version %s (%llu bytes) and read it back", res.version,
	       (unsigned long long)res.image_bytes);
	for (unsigned i = 0; i < res.image_count; i++) {
		char line[512];
		lb_image_check_describe(&res.images[i], line, sizeof(line));
		if (*line)
			lb_log(cfg.log_file, program, "%s", line);
	}

	cgi_begin(200);
	printf("{\"result\":\"installed\",\"version\":\"%s\",\"compatible\":\"%s\",\"image_bytes\":%llu,"
	       "\"bundle_size\":%llu,\"readback\":%s,\"seconds\":%.3f,\"filesystems\":",
	       res.version, res.compatible, (unsigned long long)res.image_bytes, (unsigned long long)res.bundle_size,
	       cfg.readback ? "true" : "false", seconds);
	lb_image_checks_json(res.images, res.image_count, stdout);
	printf("}\n");
	close(lock_fd);
	return 0;
}
