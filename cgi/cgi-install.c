/* POST /api/install: streams the request body (the bundle, raw or as multipart/form-data) into
 * the installer, keeps the state file current for /api/status and the kiosk, and answers with
 * the result. One install at a time, by the lock in the state directory. A raw body with a
 * Content-Range continues the upload session a cut upload left (lib/session.h, GET
 * /api/session): the rest of the same bundle, from a chunk boundary. GET /api/install?size=N
 * upgraded to a WebSocket takes a whole bundle the same way, without lighttpd's temporary
 * files, and answers in a text message (websocket-upload.h). */
#include "cgi-common.h"
#include "websocket-upload.h"
#include "lib/content-range.h"
#include "lib/delta-plan.h"
#include "lib/install.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/multipart.h"
#include "lib/state.h"
#include "lib/version.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *program = "install";
static atomic_bool cancel_requested;
static bool over_websocket;

/* After an early error the rest of the body is read and dropped rather than left unread: a
 * connection closed under a client that is still sending is reset, and browsers answer a reset
 * by sending the whole POST again. curl stops sending once it has the error response; the page
 * stops when /api/status shows the failure. */
static void drain_request_body(const struct cgi_request *req, uint64_t received)
{
	static char sink[64 << 10];
	/* A WebSocket client stops on the answer's message, which goes out when this program ends. */
	if (over_websocket)
		return;
	while (!atomic_load(&cancel_requested) && (!req->content_length || received < req->content_length)) {
		ssize_t n = cgi_read_request_body(NULL, sink, sizeof(sink));
		if (n <= 0)
			break;
		received += (uint64_t)n;
	}
}

struct session {
	const struct lb_config *cfg;
	struct lb_state state;
	uint64_t body_start; /* the bundle byte the request body begins at: 0, or a resume's FIRST */
	double started;      /* the request's start */
	double rate_started; /* where the current rate is measured from */
	uint64_t rate_base;  /* the body byte it is measured from (a delta install's copies came first) */
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
	cgi_websocket_keepalive();
	double t = now();
	if (!phase_changed && t - s->last_save < 0.25)
		return;

	/* A delta install copies before it reads on: the rate of the body starts after the copies. */
	if (p->copied != st->copied) {
		s->rate_started = t;
		s->rate_base = p->received;
	}
	lb_state_follow(st, p);
	/* Rate and ETA follow what is being waited for: the upload (of what a resumed one still
	 * sends, of what a delta one sends after its copies), then the read-back. */
	double elapsed = t - s->rate_started;
	uint64_t skipped = p->phase == LB_PHASE_READBACK	   ? 0
			   : p->delta && s->rate_base <= p->received ? s->rate_base
			   : p->resumed > p->received		   ? 0
								   : p->resumed;
	uint64_t done = (p->phase == LB_PHASE_READBACK ? p->readback : p->received) - skipped;
	uint64_t total = (p->phase == LB_PHASE_READBACK ? p->image_total : p->bundle_size) - skipped;
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

/* A cut upload reads as a truncated bundle; say what happened in the operator's words, and
 * where the next upload of the same bundle resumes when the session was kept. `websocket_cut`:
 * a WebSocket upload's connection ended early (a POST's shows as a body shorter than announced). */
static void explain_cut(const struct cgi_request *req, const struct session *s, const struct lb_install_result *res,
			bool websocket_cut, struct lb_error *err)
{
	uint64_t total = s->state.bundle_size ? s->state.bundle_size : s->body_start + req->content_length;
	bool cut = atomic_load(&cancel_requested) || websocket_cut ||
		   (!over_websocket && (err->code == LB_E_CANCELLED ||
					(err->code == LB_E_TRUNCATED && req->content_length &&
					 s->state.received < s->body_start + req->content_length)));
	if (!cut)
		return;
	unsigned percent = total ? (unsigned)(s->state.received * 100 / total) : 0;
	err->code = LB_OK;
	if (s->state.delta)
		lb_error_set(err, EPIPE, LB_E_TRUNCATED,
			     "connection lost at %u %% of the delta upload (%llu of %llu bytes): ask for a new plan "
			     "and send again; the chunks written so far are found on the device and not sent again",
			     percent, (unsigned long long)s->state.received, (unsigned long long)total);
	else if (res->resumable)
		lb_error_set(err, EPIPE, LB_E_TRUNCATED,
			     "connection lost at %u %% (%llu of %llu bytes): upload again; the same bundle "
			     "resumes at %u %% (byte %llu)",
			     percent, (unsigned long long)s->state.received, (unsigned long long)total,
			     (unsigned)(res->resume_offset * 100 / total), (unsigned long long)res->resume_offset);
	else
		lb_error_set(err, EPIPE, LB_E_TRUNCATED, "connection lost at %u %% (%llu of %llu bytes): upload again",
			     percent, (unsigned long long)s->state.received, (unsigned long long)total);
}

/* Reads and drops `count` bytes of the body: a resume that starts before the session's resume
 * point sends chunks the device already holds. False when the body ended first. */
static bool skip_request_body(uint64_t count)
{
	static char sink[64 << 10];
	while (count > 0) {
		ssize_t n = cgi_read_request_body(NULL, sink, count < sizeof(sink) ? (size_t)count : sizeof(sink));
		if (n <= 0)
			return false;
		count -= (uint64_t)n;
	}
	return true;
}

/* Checks a resumed upload against the session under the install lock, and moves the body to
 * the session's resume point. False after a complete error response. */
static bool prepare_resume(const struct cgi_request *req, bool multipart, const struct lb_config *cfg,
			   struct lb_session *ret, uint64_t *ret_body_start)
{
	struct lb_content_range range;
	struct lb_error err = {0};
	char msg[LB_ERROR_MESSAGE_MAX];

	if (multipart) {
		cgi_error(400, "bad-request",
			  "a resumed upload (Content-Range) sends the raw rest of the bundle as "
			  "application/octet-stream, not a form",
			  NULL);
		return false;
	}
	if (!lb_content_range_parse(req->content_range, strlen(req->content_range), &range)) {
		cgi_error(400, "bad-request",
			  "the Content-Range header is not \"bytes FIRST-LAST/TOTAL\": resume with curl "
			  "--upload-file BUNDLE -C OFFSET, OFFSET from GET /api/session",
			  NULL);
		return false;
	}
	if (req->content_length != range.last - range.first + 1) {
		snprintf(msg, sizeof(msg),
			 "the body has %llu bytes but Content-Range announces %llu: send the rest of the bundle "
			 "from byte %llu",
			 (unsigned long long)req->content_length, (unsigned long long)(range.last - range.first + 1),
			 (unsigned long long)range.first);
		cgi_error(400, "bad-request", msg, NULL);
		return false;
	}
	int r = lb_session_load(cfg->state_dir, ret, &err);
	if (r == -ENOENT) {
		cgi_error(416, "no-session",
			  "there is no cut upload to resume (the last one finished, failed for another reason, or "
			  "the recovery restarted): send the whole bundle without Content-Range",
			  NULL);
		return false;
	}
	if (r < 0) {
		lb_session_discard(cfg->state_dir);
		cgi_error(416, "no-session", err.message, NULL);
		return false;
	}
	char hex[LB_SHA256_HEX_SIZE + 1], etag[LB_SHA256_HEX_SIZE + 3];
	lb_hex_encode(ret->manifest_sha256, LB_SHA256_SIZE, hex);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	if (req->if_match && strcmp(req->if_match, etag) != 0 && strcmp(req->if_match, hex) != 0) {
		snprintf(msg, sizeof(msg),
			 "the cut upload was of another bundle (version %s, manifest %.12s...): send this bundle "
			 "whole, without Content-Range (that discards the other upload)",
			 ret->version, hex);
		cgi_error(412, "session-mismatch", msg, NULL);
		lb_session_free(ret);
		return false;
	}
	if (range.total != ret->bundle_size) {
		snprintf(msg, sizeof(msg),
			 "this file has %llu bytes but the cut upload was of a %llu-byte bundle (version %s): "
			 "send this bundle whole, without Content-Range (that discards the other upload)",
			 (unsigned long long)range.total, (unsigned long long)ret->bundle_size, ret->version);
		cgi_error(412, "session-mismatch", msg, NULL);
		lb_session_free(ret);
		return false;
	}
	if (range.first > ret->resume_offset) {
		snprintf(msg, sizeof(msg),
			 "the device holds the bundle up to byte %llu only, not %llu: resume from there (curl "
			 "--upload-file BUNDLE -C %llu)",
			 (unsigned long long)ret->resume_offset, (unsigned long long)range.first,
			 (unsigned long long)ret->resume_offset);
		cgi_error(416, "resume-offset", msg, NULL);
		lb_session_free(ret);
		return false;
	}
	*ret_body_start = range.first;
	return true;
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_error err = {0};
	int lock_fd = -1;

	cgi_request_from_env(&req);
	over_websocket = cgi_websocket_requested();
	if (over_websocket ? !cgi_websocket_accept(&req) : cgi_refuse_unsafe_post(&req))
		return 0;
	if (!cgi_load_config(&cfg))
		return 0;

	bool multipart = req.content_type && !strncasecmp(req.content_type, "multipart/form-data", 19);
	if (!multipart && req.content_type && strcasecmp(req.content_type, "application/octet-stream") != 0) {
		cgi_error(415, "unsupported-media-type",
			  "send the bundle as application/octet-stream (curl --upload-file FILE -X POST -H "
			  "'Content-Type: application/octet-stream') or as a multipart/form-data file field",
			  NULL);
		return 0;
	}

	bool delta = cgi_query_has(&req, "delta=1");
	if (delta && over_websocket) {
		cgi_error(400, "bad-request",
			  "a delta upload (?delta=1) is a POST of the ranges its plan lists; the WebSocket takes "
			  "whole bundles",
			  NULL);
		return 0;
	}
	/* The socket carries frames of the whole bundle: a resume's Content-Range or a form's body
	 * type would have the body read as something it is not. */
	if (over_websocket && (req.content_range || multipart)) {
		cgi_error(400, "bad-request",
			  "a WebSocket upload is the whole bundle, from its first byte: resume a cut upload with "
			  "a POST and Content-Range, and send a form as a POST",
			  NULL);
		return 0;
	}
	if (delta && (multipart || req.content_range)) {
		cgi_error(400, "bad-request",
			  "a delta upload (?delta=1) is the raw concatenation of the ranges its plan lists, as "
			  "application/octet-stream, without Content-Range: a cut one is resumed by a new plan",
			  NULL);
		return 0;
	}

	if (!cgi_take_install_lock(&cfg, &lock_fd))
		return 0;

	cgi_cancel_on_termination(&cancel_requested);

	/* A plan is used once: whatever this install does, main no longer holds what it found. */
	struct lb_delta_plan plan = {0};
	if (delta) {
		int pr = lb_delta_plan_load(cfg.state_dir, &plan);
		lb_delta_plan_discard(cfg.state_dir);
		if (pr < 0) {
			cgi_error(409, "no-plan",
				  "the device has no plan for a delta upload (none was asked for, or an install or a "
				  "restart came since): ask for one (POST /api/install-plan) and send what it lists",
				  "untouched");
			drain_request_body(&req, 0);
			return 0;
		}
	} else
		lb_delta_plan_discard(cfg.state_dir);

	struct lb_session resume = {0};
	uint64_t body_start = 0;
	if (req.content_range && !prepare_resume(&req, multipart, &cfg, &resume, &body_start))
		return 0;

	struct session s = {.cfg = &cfg, .started = now(), .body_start = body_start};
	s.rate_started = s.started;
	lb_state_load(cfg.state_dir, &s.state);
	lb_state_begin(&s.state, "receiving");
	s.state.delta = delta;
	save(&s);
	if (req.content_range)
		lb_log(cfg.log_file, program, "upload from %s resumes version %s at byte %llu of %llu (body from %llu)",
		       req.remote_addr, resume.version, (unsigned long long)resume.resume_offset,
		       (unsigned long long)resume.bundle_size, (unsigned long long)body_start);
	else
		lb_log(cfg.log_file, program, "%s from %s started (%llu bytes%s)", delta ? "delta upload" : "upload",
		       req.remote_addr, (unsigned long long)req.content_length,
		       multipart ? ", form" : over_websocket ? ", WebSocket" : "");

	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	lb_keyring_load(cfg.keyring, &keys, &key_err); /* no keys: the installer names the problem */

	lb_pipe_widen(STDIN_FILENO); /* lighttpd hands the body (and a WebSocket's frames) over through a pipe */
	struct lb_input raw = {.read = cgi_read_request_body}, in;
	static struct lb_ws_reader ws_reader;
	if (over_websocket)
		cgi_websocket_input(&ws_reader, &req, &cancel_requested, &raw);
	in = raw;
	/* The chunks between the client's offset and the session's resume point are held already. */
	if (req.content_range && !skip_request_body(resume.resume_offset - body_start)) {
		lb_keyring_free(keys);
		lb_session_free(&resume);
		lb_error_set(&err, EPIPE, LB_E_TRUNCATED,
			     "the resumed upload ended before byte %llu, where the device resumes: upload again",
			     (unsigned long long)resume.resume_offset);
		s.state.state = LB_PHASE_FAILED;
		snprintf(s.state.message, sizeof(s.state.message), "%s", err.message);
		save(&s);
		cgi_error_from(&err, "invalid");
		return 0;
	}
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
		.session_dir = cfg.state_dir,
		.resume = req.content_range ? &resume : NULL,
		.plan = delta ? &plan : NULL,
		/* A raw whole bundle's length is known up front: a shorter or longer file is refused
		 * before main is touched. (A form's length counts its framing; a resume's and a
		 * delta's bodies are parts of a bundle.) */
		.announced_size = !multipart && !delta && !req.content_range ? req.content_length : 0,
	};
	lb_config_install_options(&cfg, specs, boot_configured ? &boot : NULL, &opt);
	struct lb_install_result res;
	int r = lb_install(&in, &opt, &res, &err);
	lb_delta_plan_free(&plan);
	lb_keyring_free(keys);
	lb_session_free(&resume);
	if (r < 0 && multipart && lb_error_failed(&mp.err))
		err = mp.err;
	/* The frames' own failure (a protocol error, more bytes than announced) names the cause. */
	bool websocket_cut = over_websocket && (ws_reader.error == -ECONNABORTED || ws_reader.error == -ENODATA ||
						ws_reader.error == -EPIPE || ws_reader.error == -ETIMEDOUT);
	if (r < 0 && over_websocket && ws_reader.error && !websocket_cut)
		err = ws_reader.err;

	const char *target_state = res.target_touched ? "invalid" : "untouched";
	s.state.last_time = (int64_t)time(NULL);
	if (r < 0) {
		explain_cut(&req, &s, &res, websocket_cut, &err);
		s.state.state = LB_PHASE_FAILED;
		snprintf(s.state.message, sizeof(s.state.message), "%s", err.message);
		snprintf(s.state.last_result, sizeof(s.state.last_result), "failed");
		snprintf(s.state.last_code, sizeof(s.state.last_code), "%s", lb_code_name(err.code));
		snprintf(s.state.last_message, sizeof(s.state.last_message), "%s", err.message);
		save(&s);
		lb_log(cfg.log_file, program, "install failed (%s, main %s): %s", lb_code_name(err.code), target_state,
		       err.message);
		cgi_error_from(&err, target_state);
		drain_request_body(&req, s.state.received > body_start ? s.state.received - body_start : 0);
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
	       res.read_back ? "true" : "false", seconds);
	lb_image_checks_json(res.images, res.image_count, stdout);
	printf("}\n");
	close(lock_fd);
	return 0;
}
