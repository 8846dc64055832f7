#include "pull.h"
#include "http-input.h"
#include "io.h"
#include "json.h"
#include "log.h"
#include "macro.h"
#include "session.h"
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct pull {
	const struct lb_config *cfg;
	const struct lb_pull_options *opt;
	struct lb_state state;
	double rate_started, last_save;
	unsigned reconnects;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void save(struct pull *p)
{
	if (!p->opt->keep_state)
		return;
	lb_state_save(p->cfg->state_dir, &p->state);
	p->last_save = now();
}

/* The state file follows the install as it does for an upload (cgi-install.c): the page and
 * the kiosk cannot tell a pull from an upload but by the log. */
static void on_progress(const struct lb_progress *pr, void *userdata)
{
	struct pull *p = userdata;
	if (p->opt->progress)
		p->opt->progress(pr, p->opt->userdata);
	struct lb_state *st = &p->state;
	bool phase_changed = st->state != (int)pr->phase;
	double t = now();
	if (!phase_changed && t - p->last_save < 0.25)
		return;
	lb_state_follow(st, pr);
	double elapsed = t - p->rate_started;
	uint64_t done = pr->phase == LB_PHASE_READBACK ? pr->readback : pr->received;
	uint64_t total = pr->phase == LB_PHASE_READBACK ? pr->image_total : pr->bundle_size;
	st->mbps = elapsed > 0.2 ? (double)done / elapsed / 1e6 : 0;
	st->eta_seconds = st->mbps > 0 && total > done ? (int64_t)((double)(total - done) / (st->mbps * 1e6)) : -1;
	if (phase_changed && pr->phase == LB_PHASE_READBACK)
		p->rate_started = t;
	snprintf(st->message, sizeof(st->message), "%s%s%s (pulled)", lb_phase_name(pr->phase),
		 st->bundle_version[0] ? " version " : "", st->bundle_version);
	save(p);
}

/* Right before main is written: a delta plan or a cut upload's session in the state directory
 * describes what main held until now, so both go (an upload after this pull then asks for a new
 * plan, or sends the whole bundle, instead of building on bytes that are gone). */
static int before_write(const struct lb_manifest *m, void *userdata, struct lb_error *err)
{
	struct pull *p = userdata;
	(void)err;
	lb_delta_plan_discard(p->cfg->state_dir);
	lb_session_discard(p->cfg->state_dir);
	snprintf(p->state.main_state, sizeof(p->state.main_state), "invalid");
	p->state.main_version[0] = '\0';
	save(p);
	lb_log(p->cfg->log_file, p->opt->program, "writing version %s onto main", m->version);
	return 0;
}

static void on_reconnect(void *userdata, const char *message)
{
	struct pull *p = userdata;
	if (strncmp(message, "resumed", 7) == 0)
		p->reconnects++;
	lb_log(p->cfg->log_file, p->opt->program, "%s", message);
	if (p->opt->on_reconnect)
		p->opt->on_reconnect(p->opt->userdata, message);
}

static int finish(struct pull *p, struct lb_pull_result *ret, const struct lb_error *err)
{
	struct lb_state *st = &p->state;
	ret->reconnects = p->reconnects;
	ret->time = (int64_t)time(NULL);
	st->last_time = ret->time;
	if (err) {
		snprintf(ret->result, sizeof(ret->result), "failed");
		snprintf(ret->code, sizeof(ret->code), "%s", lb_code_name(err->code));
		snprintf(ret->message, sizeof(ret->message), "%s", err->message);
		st->state = LB_PHASE_FAILED;
		snprintf(st->message, sizeof(st->message), "%s", err->message);
		snprintf(st->last_result, sizeof(st->last_result), "failed");
		snprintf(st->last_code, sizeof(st->last_code), "%s", lb_code_name(err->code));
		snprintf(st->last_message, sizeof(st->last_message), "%s", err->message);
		save(p);
		lb_log(p->cfg->log_file, p->opt->program, "install from %s failed (%s, main %s): %s", ret->url,
		       lb_code_name(err->code), ret->target_touched ? "invalid" : "untouched", err->message);
		return -EIO;
	}
	snprintf(ret->result, sizeof(ret->result), "installed");
	snprintf(ret->message, sizeof(ret->message), "installed version %s", ret->version);
	st->state = LB_PHASE_DONE;
	snprintf(st->message, sizeof(st->message), "installed version %s (pulled)", ret->version);
	snprintf(st->last_result, sizeof(st->last_result), "installed");
	st->last_code[0] = '\0';
	snprintf(st->last_message, sizeof(st->last_message), "installed version %s", ret->version);
	snprintf(st->main_state, sizeof(st->main_state), "valid");
	snprintf(st->main_version, sizeof(st->main_version), "%s", ret->version);
	st->main_installed_at = ret->time;
	st->eta_seconds = 0;
	save(p);
	lb_log(p->cfg->log_file, p->opt->program, "installed version %s from %s (%llu bytes, %u reconnects)",
	       ret->version, ret->url, (unsigned long long)ret->bundle_size, ret->reconnects);
	return 0;
}

/* Plans a delta download for the header that came in (delta-plan.h): when main holds enough of
 * the new images, the input is switched to the ranges of the frames it lacks and the install is
 * told the plan. A plan that cannot be made (a header the install will refuse anyway, a target
 * that cannot be read) leaves the whole download, which reports its own error. */
static void plan_delta(struct pull *p, struct lb_http_input *hi, const uint8_t *header_bytes, size_t header_size,
		       struct lb_install_options *iopt, struct lb_delta_plan *plan, uint64_t (**ranges)[2])
{
	struct lb_input_buffer b = {.data = header_bytes, .size = header_size};
	struct lb_input hin;
	struct lb_bundle_header h = {0};
	struct lb_error e = {0};
	lb_input_init_buffer(&hin, &b);
	if (lb_install_plan(&hin, iopt, &h, plan, &e) < 0) {
		lb_log(p->cfg->log_file, p->opt->program, "no delta plan (%s): downloading the whole bundle",
		       e.message);
		return;
	}
	uint64_t total = lb_bundle_size(&h);
	/* Pieces need a server that answers range requests, and a file that is this bundle alone. */
	if (!hi->accept_ranges || (hi->size && hi->size != total)) {
		lb_log(p->cfg->log_file, p->opt->program, "%s: downloading the whole bundle",
		       !hi->accept_ranges ? "the server does not say it answers range requests"
					  : "the file is not the bundle alone");
		lb_delta_plan_free(plan);
		lb_bundle_header_free(&h);
		return;
	}
	size_t count = lb_delta_plan_ranges(plan, &h, ranges);
	/* Worth it only when it saves something: each range costs a request. */
	if (count == 0 || plan->send_bytes + count * 1024 >= total - total / 20) {
		lb_log(p->cfg->log_file, p->opt->program, "main holds little of version %s (%llu bytes): downloading "
		       "the whole bundle", h.manifest.version, (unsigned long long)plan->reused_bytes);
		lb_delta_plan_free(plan);
		lb_bundle_header_free(&h);
		return;
	}
	lb_log(p->cfg->log_file, p->opt->program,
	       "delta: main holds %u chunks in place and %u elsewhere; downloading %llu of %llu bytes in %zu ranges "
	       "(planned in %.1f s)",
	       plan->in_place, plan->moved, (unsigned long long)plan->send_bytes, (unsigned long long)total, count,
	       plan->seconds);
	/* The first range holds the header, which is read already; its frames, if any, remain. */
	(*ranges)[0][0] = h.header_size;
	(*ranges)[0][1] -= h.header_size;
	if ((*ranges)[0][1] == 0)
		lb_http_input_select(hi, (const uint64_t(*)[2])(*ranges + 1), count - 1);
	else
		lb_http_input_select(hi, (const uint64_t(*)[2])*ranges, count);
	iopt->plan = plan;
	lb_bundle_header_free(&h);
}

int lb_pull_install(const struct lb_config *cfg, const char *url, const struct lb_pull_options *opt,
		    struct lb_pull_result *ret, struct lb_error *err)
{
	struct pull p = {.cfg = cfg, .opt = opt};
	*ret = (struct lb_pull_result){.known = true};
	snprintf(ret->url, sizeof(ret->url), "%s", url);
	p.rate_started = now();

	lb_state_load(cfg->state_dir, &p.state);
	/* nothing of an earlier install, a delta upload's numbers above all, is this pull's */
	lb_state_begin(&p.state, "connecting to the server");
	save(&p);
	lb_log(cfg->log_file, opt->program, "pulling %s", url);

	struct lb_http_input hi;
	struct lb_http_input_options hopt = {
		.http = {.ca_file = cfg->pull_ca[0] ? cfg->pull_ca : NULL},
		.backoff_ms = opt->backoff_ms,
		.open_retry_seconds = opt->open_retry_seconds,
		.log = on_reconnect,
		.userdata = &p,
		.cancel = opt->cancel,
	};
	if (lb_http_input_open(&hi, url, &hopt, err) < 0)
		return finish(&p, ret, err);

	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	lb_keyring_load(cfg->keyring, &keys, &key_err); /* no keys: the installer names the problem */
	struct lb_target_spec specs[LB_IMAGES_MAX];
	struct lb_boot boot;
	bool boot_configured = false;
	if (lb_config_boot(cfg, &boot, &boot_configured, err) < 0) {
		lb_keyring_free(keys);
		lb_http_input_close(&hi);
		return finish(&p, ret, err);
	}
	struct lb_install_options iopt = {
		.keyring = keys,
		.threads = opt->threads,
		.progress = on_progress,
		.userdata = &p,
		.cancel = opt->cancel,
		.before_write = before_write,
	};
	lb_config_install_options(cfg, specs, boot_configured ? &boot : NULL, &iopt);

	/* The header first, then the plan: what main holds already is not downloaded again. */
	struct lb_input net, in;
	lb_http_input_init(&net, &hi);
	struct lb_bundle_header header = {0};
	struct lb_delta_plan plan = {0};
	uint64_t(*ranges)[2] = NULL;
	uint8_t *header_bytes = NULL;
	size_t header_size = 0;
	int r = lb_bundle_read_header(&net, &header, err);
	if (r == 0 && lb_bundle_header_bytes(&header, &header_bytes, &header_size) < 0)
		r = lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the bundle's header");
	if (r == 0 && !opt->no_delta)
		plan_delta(&p, &hi, header_bytes, header_size, &iopt, &plan, &ranges);
	/* Reading main took a while; the open response waited (a closed one resumes by Range). */
	hi.last_progress = now();
	struct lb_input_prefixed prefixed = {.prefix = {.data = header_bytes, .size = header_size}, .rest = &net};
	lb_input_init_prefixed(&in, &prefixed);
	struct lb_install_result res = {0};
	if (r == 0)
		r = lb_install(&in, &iopt, &res, err);
	lb_delta_plan_free(&plan);
	free(ranges);
	free(header_bytes);
	lb_bundle_header_free(&header);
	lb_keyring_free(keys);
	lb_http_input_close(&hi);
	ret->install = res;
	ret->target_touched = res.target_touched;
	ret->bundle_size = hi.transferred;
	snprintf(ret->version, sizeof(ret->version), "%s", res.version[0] ? res.version : p.state.bundle_version);
	if (r < 0) {
		/* the installer saw a read error; the input knows what happened on the network */
		if (lb_error_failed(&hi.err) && (err->code == LB_E_READ || err->code == LB_E_CANCELLED)) {
			*err = hi.err;
			if (err->code == LB_E_READ && ret->target_touched)
				snprintf(err->message + strlen(err->message), sizeof(err->message) - strlen(err->message),
					 " (main was partly written: it stays out of the boot order until an install "
					 "completes)");
		}
		return finish(&p, ret, err);
	}
	snprintf(p.state.main_compatible, sizeof(p.state.main_compatible), "%s", res.compatible);
	for (unsigned i = 0; i < res.image_count; i++) {
		char line[512];
		lb_image_check_describe(&res.images[i], line, sizeof(line));
		if (*line)
			lb_log(cfg->log_file, opt->program, "%s", line);
	}
	return finish(&p, ret, NULL);
}

static void file_path(const char *dir, const char *name, char *ret, size_t size)
{
	snprintf(ret, size, "%s/%s", dir, name);
}

int lb_pull_request_write(const char *dir, const char *url, int64_t now, struct lb_error *err)
{
	struct lb_url u;
	char path[4096], text[LB_URL_MAX + 64];
	int r = lb_url_parse(url, &u, err);
	if (r < 0)
		return r;
	int n = snprintf(text, sizeof(text), "url=%s\ntime=%" PRId64 "\n", url, now);
	file_path(dir, LB_PULL_REQUEST_FILE, path, sizeof(path));
	/* a data partition the recovery never used has no lifeboat directory yet; the recovery's
	 * log-dir gives it to its own user at the next boot */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return lb_error_set(err, errno, LB_E_IO, "cannot make %s: %s (is the data partition mounted? set pull-dir)",
				    dir, strerror(errno));
	r = lb_write_file_atomic(path, text, (size_t)n, 0644);
	if (r < 0)
		return lb_error_set(err, -r, LB_E_IO,
				    "cannot write the install request %s: %s (is the data partition mounted there? "
				    "set pull-dir)",
				    path, strerror(-r));
	return 0;
}

int lb_pull_request_take(const char *dir, char *ret_url, size_t size)
{
	char path[4096], taken[4096];
	_cleanup_free_ char *text = NULL;
	file_path(dir, LB_PULL_REQUEST_FILE, path, sizeof(path));
	file_path(dir, LB_PULL_TAKEN_FILE, taken, sizeof(taken));
	if (rename(path, taken) < 0)
		return -errno;
	int r = lb_read_file(taken, LB_URL_MAX + 256, &text, NULL);
	if (r < 0)
		return r;
	char *cursor = text, *k, *v;
	ret_url[0] = '\0';
	while (lb_next_key_value(&cursor, &k, &v))
		if (!strcmp(k, "url"))
			snprintf(ret_url, size, "%s", v);
	return 0;
}

int lb_pull_result_save(const char *dir, const struct lb_pull_result *r)
{
	char path[4096], text[LB_URL_MAX + LB_ERROR_MESSAGE_MAX + 512];
	/* one value per line: a line end inside a message would start a new key */
	char message[LB_ERROR_MESSAGE_MAX];
	snprintf(message, sizeof(message), "%s", r->message);
	for (char *c = message; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	int n = snprintf(text, sizeof(text),
			 "result=%s\ncode=%s\nmessage=%s\nversion=%s\nurl=%s\ntime=%" PRId64
			 "\ntarget_touched=%d\nreconnects=%u\nbundle_size=%" PRIu64 "\n",
			 r->result, r->code, message, r->version, r->url, r->time, r->target_touched ? 1 : 0,
			 r->reconnects, r->bundle_size);
	file_path(dir, LB_PULL_RESULT_FILE, path, sizeof(path));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return lb_write_file_atomic(path, text, (size_t)n, 0644);
}

int lb_pull_result_load(const char *dir, struct lb_pull_result *ret)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	*ret = (struct lb_pull_result){0};
	file_path(dir, LB_PULL_RESULT_FILE, path, sizeof(path));
	int r = lb_read_file(path, 16 << 10, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *cursor = text, *k, *v;
	while (lb_next_key_value(&cursor, &k, &v)) {
		if (!strcmp(k, "result"))
			snprintf(ret->result, sizeof(ret->result), "%s", v);
		else if (!strcmp(k, "code"))
			snprintf(ret->code, sizeof(ret->code), "%s", v);
		else if (!strcmp(k, "message"))
			snprintf(ret->message, sizeof(ret->message), "%s", v);
		else if (!strcmp(k, "version"))
			snprintf(ret->version, sizeof(ret->version), "%s", v);
		else if (!strcmp(k, "url"))
			snprintf(ret->url, sizeof(ret->url), "%s", v);
		else if (!strcmp(k, "time"))
			ret->time = strtoll(v, NULL, 10);
		else if (!strcmp(k, "target_touched"))
			ret->target_touched = !strcmp(v, "1");
		else if (!strcmp(k, "reconnects"))
			ret->reconnects = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "bundle_size"))
			ret->bundle_size = strtoull(v, NULL, 10);
	}
	ret->known = ret->result[0] != '\0';
	return 0;
}

void lb_pull_result_json(const struct lb_pull_result *r, FILE *f)
{
	if (!r->known) {
		fputs("null", f);
		return;
	}
	fputs("{\"result\":", f);
	lb_json_string(f, r->result);
	fputs(",\"code\":", f);
	lb_json_string(f, r->code);
	fputs(",\"message\":", f);
	lb_json_string(f, r->message);
	fputs(",\"version\":", f);
	lb_json_string(f, r->version);
	fputs(",\"url\":", f);
	lb_json_string(f, r->url);
	fprintf(f, ",\"time\":%" PRId64 ",\"target_touched\":%s,\"reconnects\":%u,\"bundle_size\":%" PRIu64 "}",
		r->time, r->target_touched ? "true" : "false", r->reconnects, r->bundle_size);
}
