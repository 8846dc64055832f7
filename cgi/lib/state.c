#include "state.h"
#include "io.h"
#include "json.h"
#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

const char *lb_state_name(int state)
{
	return state == LB_STATE_IDLE ? "idle" : lb_phase_name((enum lb_phase)state);
}

static int state_from_name(const char *name)
{
	if (!strcmp(name, "idle"))
		return LB_STATE_IDLE;
	for (int p = 0; p < _LB_PHASE_MAX; p++)
		if (!strcmp(name, lb_phase_name((enum lb_phase)p)))
			return p;
	return LB_STATE_IDLE;
}

static void defaults(struct lb_state *s)
{
	*s = (struct lb_state){.state = LB_STATE_IDLE, .eta_seconds = -1};
	snprintf(s->main_state, sizeof(s->main_state), "unknown");
}

static void set_text(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value);
}

int lb_state_load(const char *dir, struct lb_state *ret)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	defaults(ret);
	snprintf(path, sizeof(path), "%s/%s", dir, LB_STATE_FILE);
	int r = lb_read_file(path, 64 << 10, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;

	struct lb_state *s = ret;
	char *cursor = text, *line, *v;
	while (lb_next_key_value(&cursor, &line, &v)) {
#define TEXT(key, field)                                                                                     \
	else if (!strcmp(line, key)) set_text(s->field, sizeof(s->field), v)
#define U64(key, field) else if (!strcmp(line, key)) s->field = strtoull(v, NULL, 10)
#define I64(key, field) else if (!strcmp(line, key)) s->field = strtoll(v, NULL, 10)
		if (!strcmp(line, "state"))
			s->state = state_from_name(v);
		TEXT("message", message);
		TEXT("bundle.version", bundle_version);
		TEXT("bundle.compatible", bundle_compatible);
		U64("received", received);
		U64("resumed", resumed);
		U64("reused", reused);
		U64("copied", copied);
		U64("copy_total", copy_total);
		U64("bundle_total", bundle_total);
		else if (!strcmp(line, "delta")) s->delta = !strcmp(v, "1");
		U64("bundle_size", bundle_size);
		U64("written", written);
		U64("readback", readback);
		U64("image_total", image_total);
		else if (!strcmp(line, "mbps")) s->mbps = strtod(v, NULL);
		I64("eta_seconds", eta_seconds);
		I64("started", started);
		TEXT("last.result", last_result);
		TEXT("last.code", last_code);
		TEXT("last.message", last_message);
		I64("last.time", last_time);
		TEXT("main.state", main_state);
		TEXT("main.version", main_version);
		TEXT("main.compatible", main_compatible);
		I64("main.installed_at", main_installed_at);
		I64("updated", updated);
#undef TEXT
#undef U64
#undef I64
	}
	return 0;
}

void lb_state_begin(struct lb_state *st, const char *message)
{
	st->state = LB_PHASE_RECEIVING;
	st->received = st->bundle_size = st->written = st->readback = st->image_total = 0;
	st->resumed = st->reused = st->copied = st->copy_total = st->bundle_total = 0;
	st->delta = false;
	st->bundle_version[0] = st->bundle_compatible[0] = '\0';
	st->started = (int64_t)time(NULL);
	st->mbps = 0;
	st->eta_seconds = -1;
	snprintf(st->message, sizeof(st->message), "%s", message);
}

void lb_state_follow(struct lb_state *st, const struct lb_progress *p)
{
	st->state = (int)p->phase;
	st->received = p->received;
	st->resumed = p->resumed;
	st->bundle_size = p->bundle_size;
	st->written = p->written;
	st->readback = p->readback;
	st->image_total = p->image_total;
	st->delta = p->delta;
	st->reused = p->reused;
	st->copied = p->copied;
	st->copy_total = p->copy_total;
	st->bundle_total = p->bundle_total;
	if (p->manifest) {
		snprintf(st->bundle_version, sizeof(st->bundle_version), "%s", p->manifest->version);
		snprintf(st->bundle_compatible, sizeof(st->bundle_compatible), "%s", p->manifest->compatible);
	}
}

/* Values are single lines: a newline in a message would start a new key. */
static void put_text(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=", key);
	for (const char *c = value; *c; c++)
		fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
	fputc('\n', f);
}

int lb_state_save(const char *dir, struct lb_state *s)
{
	char path[4096];
	char *text = NULL;
	size_t size = 0;
	s->updated = (int64_t)time(NULL);
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	put_text(f, "state", lb_state_name(s->state));
	put_text(f, "message", s->message);
	put_text(f, "bundle.version", s->bundle_version);
	put_text(f, "bundle.compatible", s->bundle_compatible);
	fprintf(f, "received=%" PRIu64 "\nbundle_size=%" PRIu64 "\nwritten=%" PRIu64 "\nreadback=%" PRIu64
		   "\nimage_total=%" PRIu64 "\nmbps=%.1f\neta_seconds=%" PRId64 "\nstarted=%" PRId64 "\n",
		s->received, s->bundle_size, s->written, s->readback, s->image_total, s->mbps, s->eta_seconds,
		s->started);
	fprintf(f,
		"resumed=%" PRIu64 "\ndelta=%d\nreused=%" PRIu64 "\ncopied=%" PRIu64 "\ncopy_total=%" PRIu64
		"\nbundle_total=%" PRIu64 "\n",
		s->resumed, s->delta, s->reused, s->copied, s->copy_total, s->bundle_total);
	put_text(f, "last.result", s->last_result);
	put_text(f, "last.code", s->last_code);
	put_text(f, "last.message", s->last_message);
	fprintf(f, "last.time=%" PRId64 "\n", s->last_time);
	put_text(f, "main.state", s->main_state);
	put_text(f, "main.version", s->main_version);
	put_text(f, "main.compatible", s->main_compatible);
	fprintf(f, "main.installed_at=%" PRId64 "\nupdated=%" PRId64 "\n", s->main_installed_at, s->updated);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, LB_STATE_FILE);
	int r = lb_write_file_atomic(path, text, size, 0644);
	free(text);
	return r;
}

static unsigned percent_of(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)(part * 100 / whole) : 0;
}

static void recovery_json(const struct lb_recovery_report *r, FILE *f)
{
	fprintf(f, ",\"recovery\":{\"version\":");
	lb_json_string(f, r->version);
	fprintf(f, ",\"boot_reason\":");
	lb_json_string(f, r->boot_reason ? r->boot_reason : "");
	if (r->last_failure) {
		fprintf(f, ",\"last_failure\":");
		lb_boot_failure_json(r->last_failure, f);
	}
	if (r->image) {
		fprintf(f, ",\"image\":");
		lb_self_check_json(r->image, f);
	}
	fputc('}', f);
}

void lb_state_json(const struct lb_state *s, const struct lb_recovery_report *recovery,
		   const struct lb_boot_state *boot, FILE *f)
{
	/* Progress in percent follows the phase: bytes received while streaming, bytes checked
	 * during the read-back. */
	unsigned percent = s->state == LB_PHASE_READBACK ? percent_of(s->readback, s->image_total)
			   : s->state == LB_PHASE_DONE    ? 100
							  : percent_of(s->received, s->bundle_size);
	fprintf(f, "{\"state\":\"%s\",\"message\":", lb_state_name(s->state));
	lb_json_string(f, s->message);
	fprintf(f,
		",\"progress\":{\"received\":%" PRIu64 ",\"resumed\":%" PRIu64 ",\"bundle_size\":%" PRIu64 ",\"written\":%" PRIu64
		",\"readback\":%" PRIu64 ",\"image_total\":%" PRIu64 ",\"percent\":%u,\"mbps\":%.1f,\"eta_seconds\":%" PRId64,
		s->received, s->resumed, s->bundle_size, s->written, s->readback, s->image_total, percent, s->mbps,
		s->eta_seconds);
	/* A delta upload's body carries only what the device lacked: bundle_size and received count
	 * the body (send_total says so), reused and copied what the device found itself. */
	fprintf(f,
		",\"delta\":%s,\"send_total\":%" PRIu64 ",\"bundle_total\":%" PRIu64 ",\"reused\":%" PRIu64
		",\"copied\":%" PRIu64 ",\"copy_total\":%" PRIu64 "}",
		s->delta ? "true" : "false", s->delta ? s->bundle_size : 0, s->delta ? s->bundle_total : 0, s->reused,
		s->copied, s->copy_total);
	fprintf(f, ",\"bundle\":{\"version\":");
	lb_json_string(f, s->bundle_version);
	fprintf(f, ",\"compatible\":");
	lb_json_string(f, s->bundle_compatible);
	fprintf(f, "},\"last_result\":{\"result\":");
	lb_json_string(f, s->last_result);
	fprintf(f, ",\"code\":");
	lb_json_string(f, s->last_code);
	fprintf(f, ",\"message\":");
	lb_json_string(f, s->last_message);
	fprintf(f, ",\"time\":%" PRId64 "},\"main\":{\"state\":", s->last_time);
	lb_json_string(f, s->main_state);
	fprintf(f, ",\"version\":");
	lb_json_string(f, s->main_version);
	fprintf(f, ",\"compatible\":");
	lb_json_string(f, s->main_compatible);
	fprintf(f, ",\"installed_at\":%" PRId64 "},\"recovery_version\":", s->main_installed_at);
	lb_json_string(f, recovery->version);
	recovery_json(recovery, f);
	if (boot) {
		fprintf(f, ",\"boot\":{\"order\":[");
		for (unsigned i = 0; i < boot->order_count; i++)
		{
			fprintf(f, "%s{\"slot\":\"%s\",\"attempts_left\":%u,\"version\":", i ? "," : "", boot->order[i],
				boot->left[i]);
			lb_json_string(f, boot->version[i]);
			fputc('}', f);
		}
		fprintf(f, "],\"oneshot_recovery\":%s}", boot->oneshot_recovery ? "true" : "false");
	}
	fprintf(f, ",\"updated\":%" PRId64 "}\n", s->updated);
}

void lb_state_merge_boot(struct lb_state *s, const struct lb_boot_state *boot, const char *slot)
{
	if (strcmp(s->main_state, "unknown") != 0)
		return;
	for (unsigned i = 0; i < boot->order_count; i++)
		if (!strcmp(boot->order[i], slot)) {
			snprintf(s->main_state, sizeof(s->main_state), "valid");
			snprintf(s->main_version, sizeof(s->main_version), "%s", boot->version[i]);
			return;
		}
}

bool lb_state_active(const struct lb_state *s)
{
	return s->state != LB_STATE_IDLE && s->state != LB_PHASE_DONE && s->state != LB_PHASE_FAILED;
}

static int open_lock(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, LB_STATE_LOCK_FILE);
	return open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

int lb_state_lock(const char *dir, int *ret_fd)
{
	int fd = open_lock(dir);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? EBUSY : errno;
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

bool lb_state_locked(const char *dir)
{
	/* Read-only and without creating it: a reader running as another user (the kiosk, as root)
	 * must not leave behind a lock file that the installing user cannot open. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, LB_STATE_LOCK_FILE);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return false;
}
