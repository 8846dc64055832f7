#include "install.h"
#include "bundle.h"
#include "macro.h"
#include "target.h"
#include "version.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

/* One chunk on its way: read into `compressed` by the reader, then decompressed, checked and
 * written (or read back and checked) by a worker. A job owns its buffers for its whole life. */
enum job_kind { JOB_WRITE, JOB_READBACK };

struct job {
	enum job_kind kind;
	const struct lb_image *image;
	struct lb_target *target; /* NULL in a dry run: check only */
	uint32_t index;
	uint32_t seq; /* the chunk's index across all images */
	bool in_place; /* read back: a delta plan found it on the target and it was not written */
	uint8_t *compressed;
	uint8_t *data; /* aligned for direct I/O */
};

/* A fixed set of jobs shared between the reader (this thread) and the workers: `free_jobs`
 * are ready to be filled, `queue` waits for a worker. The first error stops everything. */
struct pipeline {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct job *jobs;
	unsigned job_count;
	struct job **free_jobs;
	unsigned free_count;
	struct job **queue; /* ring */
	unsigned queue_head, queue_len;
	bool closing;
	atomic_bool failed;
	struct lb_error err;
	pthread_t *threads;
	unsigned thread_count;
	const uint8_t *zeros;
	size_t chunk_max;
	atomic_uint_fast64_t written, readback;
	/* Which chunks were written, by seq, and how many from the first are: the resume point. A
	 * worker may finish chunk 7 before chunk 6, so only the unbroken prefix counts. */
	uint8_t *done;
	uint32_t done_total;
	atomic_uint_fast32_t done_prefix;
	/* By seq, the fingerprint of each chunk this process proved and wrote, for the read-back:
	 * those need no second SHA-256. A chunk without one (in place, or written by the upload
	 * this one resumes) is read back against its SHA-256. */
	uint64_t *prints;
	uint8_t *printed;
};

static void pipeline_mark_done(struct pipeline *p, uint32_t seq)
{
	pthread_mutex_lock(&p->lock);
	p->done[seq] = 1;
	uint32_t n = (uint32_t)atomic_load(&p->done_prefix);
	while (n < p->done_total && p->done[n])
		n++;
	atomic_store(&p->done_prefix, n);
	pthread_mutex_unlock(&p->lock);
}

static void pipeline_fail(struct pipeline *p, const struct lb_error *e)
{
	pthread_mutex_lock(&p->lock);
	if (!lb_error_failed(&p->err))
		p->err = *e;
	atomic_store(&p->failed, true);
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

static const char *chunk_where(const struct job *j, char *buf, size_t size)
{
	snprintf(buf, size, "chunk %u of %u of image '%s'", j->index + 1, j->image->chunk_count, j->image->role);
	return buf;
}

/* Decompresses and checks one chunk into j->data. */
static int check_chunk(struct job *j, ZSTD_DCtx *dctx, uint32_t length, struct lb_error *err)
{
	const struct lb_chunk *c = &j->image->chunks[j->index];
	char where[128];
	uint8_t digest[LB_SHA256_SIZE];

	size_t n = ZSTD_decompressDCtx(dctx, j->data, length, j->compressed, c->compressed_size);
	if (ZSTD_isError(n) || n != length)
		return lb_error_set(err, EBADMSG, LB_E_CHUNK_CORRUPT,
				    "%s does not decompress (%s): the bundle is damaged; copy it again",
				    chunk_where(j, where, sizeof(where)),
				    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
	lb_sha256(j->data, length, digest);
	if (memcmp(digest, c->sha256, LB_SHA256_SIZE) != 0)
		return lb_error_set(err, EBADMSG, LB_E_CHUNK_CORRUPT,
				    "%s does not match its hash in the signed manifest: the bundle is damaged; "
				    "copy it again",
				    chunk_where(j, where, sizeof(where)));
	return 0;
}

static uint64_t chunk_offset(const struct job *j)
{
	return (uint64_t)j->index * j->image->chunk_size;
}

static void remember_print(struct pipeline *p, const struct job *j, uint32_t length)
{
	p->prints[j->seq] = lb_fingerprint(j->data, length);
	p->printed[j->seq] = 1;
}

static int write_job(struct pipeline *p, struct job *j, ZSTD_DCtx *dctx, struct lb_error *err)
{
	const struct lb_chunk *c = &j->image->chunks[j->index];
	uint32_t length = lb_image_chunk_length(j->image, j->index);
	int r;

	if (c->compressed_size != 0 && (r = check_chunk(j, dctx, length, err)) < 0)
		return r;
	if (j->target) {
		if (c->compressed_size != 0)
			remember_print(p, j, length);
		r = c->compressed_size ? lb_target_write(j->target, j->data, length, chunk_offset(j))
				       : lb_target_zero(j->target, p->zeros, length, chunk_offset(j));
		if (r < 0) {
			char where[128];
			return lb_error_set(err, -r, LB_E_WRITE,
					    "writing %s to %s failed: %s. The card may be failing or too small; "
					    "main is not bootable until an install succeeds",
					    chunk_where(j, where, sizeof(where)), j->target->path, strerror(-r));
		}
	}
	atomic_fetch_add(&p->written, length);
	return 0;
}

static int readback_job(struct pipeline *p, struct job *j, struct lb_error *err)
{
	const struct lb_chunk *c = &j->image->chunks[j->index];
	uint32_t length = lb_image_chunk_length(j->image, j->index);
	uint8_t digest[LB_SHA256_SIZE];
	char where[128];

	int r = lb_target_read(j->target, j->data, length, chunk_offset(j));
	if (r < 0)
		return lb_error_set(err, -r, LB_E_READBACK, "reading back %s from %s failed: %s. The card is failing",
				    chunk_where(j, where, sizeof(where)), j->target->path, strerror(-r));
	bool ok;
	if (c->compressed_size == 0)
		ok = lb_is_zero(j->data, length);
	else if (p->printed[j->seq])
		ok = lb_fingerprint(j->data, length) == p->prints[j->seq];
	else {
		lb_sha256(j->data, length, digest);
		ok = memcmp(digest, c->sha256, LB_SHA256_SIZE) == 0;
	}
	/* Nothing wrote an in-place chunk: other bytes there mean main changed after the plan (an
	 * install by another way, a write to the device), not that the card lost what it was given. */
	if (!ok && j->in_place)
		return lb_error_set(err, EIO, LB_E_PLAN_STALE,
				    "%s is no longer in place on %s, where the plan found it: main changed since the "
				    "plan; ask for a new plan and send again",
				    chunk_where(j, where, sizeof(where)), j->target->path);
	if (!ok)
		return lb_error_set(err, EIO, LB_E_READBACK,
				    "%s reads back different from what was written to %s: the card does not keep "
				    "what it is given (fake capacity or worn out); replace it",
				    chunk_where(j, where, sizeof(where)), j->target->path);
	atomic_fetch_add(&p->readback, length);
	return 0;
}

static void *worker(void *userdata)
{
	struct pipeline *p = userdata;
	ZSTD_DCtx *dctx = ZSTD_createDCtx();

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->queue_len == 0 && !p->closing)
			pthread_cond_wait(&p->changed, &p->lock);
		if (p->queue_len == 0)
			break;
		struct job *j = p->queue[p->queue_head];
		p->queue_head = (p->queue_head + 1) % p->job_count;
		p->queue_len--;
		pthread_mutex_unlock(&p->lock);

		if (!atomic_load(&p->failed)) {
			struct lb_error e = {0};
			int r = !dctx ? lb_error_set(&e, ENOMEM, LB_E_INTERNAL, "out of memory for a decompressor")
			    : j->kind == JOB_WRITE ? write_job(p, j, dctx, &e)
						   : readback_job(p, j, &e);
			if (r < 0)
				pipeline_fail(p, &e);
			else if (j->kind == JOB_WRITE && j->target)
				pipeline_mark_done(p, j->seq);
		}

		pthread_mutex_lock(&p->lock);
		p->free_jobs[p->free_count++] = j;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
	ZSTD_freeDCtx(dctx);
	return NULL;
}

/* Waits for a free job; NULL once the pipeline failed. */
static struct job *pipeline_take(struct pipeline *p)
{
	struct job *j = NULL;
	pthread_mutex_lock(&p->lock);
	while (p->free_count == 0 && !atomic_load(&p->failed))
		pthread_cond_wait(&p->changed, &p->lock);
	if (!atomic_load(&p->failed))
		j = p->free_jobs[--p->free_count];
	pthread_mutex_unlock(&p->lock);
	return j;
}

static void pipeline_submit(struct pipeline *p, struct job *j)
{
	pthread_mutex_lock(&p->lock);
	p->queue[(p->queue_head + p->queue_len) % p->job_count] = j;
	p->queue_len++;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

/* Hands back a job that was taken but will not be submitted. */
static void pipeline_submit_free(struct pipeline *p, struct job *j)
{
	pthread_mutex_lock(&p->lock);
	p->free_jobs[p->free_count++] = j;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

/* Waits until every submitted job has finished; returns 0 or -1 when one failed. */
static int pipeline_drain(struct pipeline *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->free_count < p->job_count)
		pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return atomic_load(&p->failed) ? -1 : 0;
}

static void pipeline_stop(struct pipeline *p)
{
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->thread_count; i++)
		pthread_join(p->threads[i], NULL);
	for (unsigned i = 0; p->jobs && i < p->job_count; i++) {
		free(p->jobs[i].compressed);
		free(p->jobs[i].data);
	}
	free(p->jobs);
	free(p->free_jobs);
	free(p->queue);
	free(p->threads);
	free(p->done);
	free(p->prints);
	free(p->printed);
	free((void *)p->zeros);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
}

static int pipeline_start(struct pipeline *p, unsigned threads, size_t chunk_max, uint32_t chunks,
			  uint32_t first_chunk, struct lb_error *err)
{
	*p = (struct pipeline){.thread_count = 0, .chunk_max = chunk_max, .done_total = chunks};
	atomic_store(&p->done_prefix, first_chunk);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);

	/* Two jobs beyond one per worker keep every worker busy while the reader fills the next. */
	p->job_count = threads + 2;
	size_t data_size = (chunk_max + 4095) / 4096 * 4096;
	p->jobs = calloc(p->job_count, sizeof(*p->jobs));
	p->free_jobs = calloc(p->job_count, sizeof(*p->free_jobs));
	p->queue = calloc(p->job_count, sizeof(*p->queue));
	p->threads = calloc(threads, sizeof(*p->threads));
	/* calloc of a large block maps the kernel's zero page: it costs no memory until written,
	 * and it is never written. */
	p->zeros = calloc(1, data_size);
	p->done = calloc(chunks + 1, 1);
	p->prints = calloc(chunks + 1, sizeof(*p->prints));
	p->printed = calloc(chunks + 1, 1);
	if (!p->jobs || !p->free_jobs || !p->queue || !p->threads || !p->zeros || !p->done || !p->prints ||
	    !p->printed)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the pipeline");
	for (unsigned i = 0; i < p->job_count; i++) {
		struct job *j = &p->jobs[i];
		j->compressed = malloc(ZSTD_compressBound(chunk_max));
		if (!j->compressed || posix_memalign((void **)&j->data, 4096, data_size) != 0)
			return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for chunk buffers");
		p->free_jobs[p->free_count++] = j;
	}
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			return lb_error_set(err, EAGAIN, LB_E_INTERNAL, "cannot start a worker thread");
		p->thread_count++;
	}
	return 0;
}

static void ZSTD_freeDCtxp(ZSTD_DCtx **d)
{
	ZSTD_freeDCtx(*d);
}

/* ---- the install itself ---- */

struct install {
	const struct lb_install_options *opt;
	struct lb_input *in;
	struct lb_bundle_header header;
	struct lb_target targets[LB_IMAGES_MAX]; /* by image index */
	struct lb_progress progress;
	uint32_t first_chunk; /* 0, or where a resumed install continues */
	struct lb_session session;
	bool session_open;
	double checkpointed; /* when the session was last moved on */
};

static double monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Moves the session's resume point to the chunks written so far, at most once a second while
 * streaming. No flush comes first: the session lives on a tmpfs, so whatever ends it (a power
 * cut) also ends the page cache the writes may still sit in, while a killed process leaves both
 * behind; the read-back at the end proves every chunk on the medium. */
static void checkpoint(struct install *s, struct pipeline *p, bool force)
{
	if (!s->session_open)
		return;
	uint32_t prefix = (uint32_t)atomic_load(&p->done_prefix);
	double t = monotonic_now();
	if (prefix == s->session.next_chunk || (!force && t - s->checkpointed < 1.0))
		return;
	lb_session_advance(s->opt->session_dir, &s->session, &s->header, prefix);
	s->checkpointed = t;
}

static void report(struct install *s, enum lb_phase phase)
{
	s->progress.phase = phase;
	s->progress.received = s->in->consumed;
	if (s->opt->progress)
		s->opt->progress(&s->progress, s->opt->userdata);
}

static int authenticate(struct install *s, struct lb_error *err)
{
	const struct lb_install_options *opt = s->opt;
	struct lb_bundle_header *h = &s->header;

	if (h->signed_) {
		if (lb_keyring_count(opt->keyring) == 0)
			return lb_error_set(err, EKEYREJECTED, LB_E_UNKNOWN_KEY,
					    "this device has no trusted keys, so it cannot check the bundle's "
					    "signature: put the public key in the keyring directory");
		return lb_keyring_verify(opt->keyring, h->manifest_text, h->manifest_size, h->signature, err);
	}
	if (!opt->allow_unsigned)
		return lb_error_set(err, EKEYREJECTED, LB_E_UNSIGNED,
				    "the bundle is not signed, and this device accepts only signed bundles: sign "
				    "it with 'lifeboat-bundle create --key'");
	return 0;
}

static const struct lb_target_spec *find_target(const struct lb_install_options *opt, const char *role)
{
	for (unsigned i = 0; i < opt->target_count; i++)
		if (strcmp(opt->targets[i].role, role) == 0)
			return &opt->targets[i];
	return NULL;
}

/* Whether two target paths name the same device or file: two images written there would
 * overwrite each other, and the read-back would then blame the card. */
static bool same_target(const char *a, const char *b)
{
	struct stat sa, sb;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) || S_ISBLK(sb.st_mode))
		return S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Everything that can be known from the header is checked here, before the first write. */
static int check_header(struct install *s, struct lb_error *err)
{
	const struct lb_install_options *opt = s->opt;
	const struct lb_manifest *m = &s->header.manifest;
	const char *recovery = opt->recovery_version ? opt->recovery_version : LB_VERSION;
	int r;

	if (opt->compatible && strcmp(m->compatible, opt->compatible) != 0)
		return lb_error_set(err, EPERM, LB_E_INCOMPATIBLE,
				    "the bundle is for '%s' but this device is '%s': use the bundle built for "
				    "this board",
				    m->compatible, opt->compatible);
	if (strverscmp(recovery, m->min_recovery_version) < 0)
		return lb_error_set(err, EPERM, LB_E_RECOVERY_TOO_OLD,
				    "the bundle needs recovery %s or newer; this recovery is %s: update the "
				    "recovery first",
				    m->min_recovery_version, recovery);
	if (opt->dry_run)
		return 0;

	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		const struct lb_target_spec *spec = find_target(opt, img->role);
		if (!spec)
			return lb_error_set(err, ENOENT, LB_E_NO_TARGET,
					    "the bundle has an image '%s' but no target is configured for it: add "
					    "--target %s=DEVICE or a target.%s line to the configuration",
					    img->role, img->role, img->role);
		for (unsigned k = 0; k < i; k++)
			if (same_target(find_target(opt, m->images[k].role)->path, spec->path))
				return lb_error_set(err, EINVAL, LB_E_USAGE,
						    "images '%s' and '%s' are both configured to go to %s: give each "
						    "role its own target",
						    m->images[k].role, img->role, spec->path);
		if ((r = lb_target_open(&s->targets[i], spec->path, err)) < 0)
			return r;
		if (img->size > s->targets[i].capacity)
			return lb_error_set(err, ENOSPC, LB_E_IMAGE_TOO_LARGE,
					    "image '%s' needs %llu bytes but %s holds only %llu: repartition the "
					    "card or build a smaller image",
					    img->role, (unsigned long long)img->size, spec->path,
					    (unsigned long long)s->targets[i].capacity);
	}
	return 0;
}

static int truncated(struct install *s, struct lb_error *err, const struct lb_image *img, uint32_t index)
{
	uint64_t total = s->progress.bundle_size;
	return lb_error_set(err, EPIPE, LB_E_TRUNCATED,
			    "the bundle ended at byte %llu of %llu (%llu %%), in chunk %u of image '%s': the "
			    "file is incomplete or the connection was lost; send it again",
			    (unsigned long long)s->in->consumed, (unsigned long long)total,
			    (unsigned long long)(s->in->consumed * 100 / total), index + 1, img->role);
}

/* Reads one chunk's payload into a job. */
static int receive_chunk(struct install *s, struct job *j, struct lb_error *err)
{
	uint32_t size = j->image->chunks[j->index].compressed_size;
	ssize_t n = lb_input_read_full(s->in, j->compressed, size);
	if (n < 0)
		return lb_error_set(err, (int)-n, LB_E_READ, "reading the bundle failed at byte %llu: %s",
				    (unsigned long long)s->in->consumed, strerror((int)-n));
	if ((size_t)n < size)
		return truncated(s, err, j->image, j->index);
	return 0;
}

static bool cancelled(const struct lb_install_options *opt)
{
	return opt->cancel && atomic_load(opt->cancel);
}

static int stream_payload_end(struct install *s, struct lb_error *err);

/* Where chunk `seq` (across all images) is: its image and its index there. */
static void locate(const struct lb_manifest *m, uint32_t seq, unsigned *ret_image, uint32_t *ret_index)
{
	unsigned i = 0;
	while (seq >= m->images[i].chunk_count)
		seq -= m->images[i++].chunk_count;
	*ret_image = i;
	*ret_index = seq;
}

/* A delta install's copies, in the plan's order, before anything is received: each reads its
 * bytes from another place of its own target, proves them against the signed manifest, and
 * writes them at the chunk's place. The order makes every source read before a copy overwrites
 * it; received chunks come later, so they cannot spoil one. */
static int copy_planned(struct install *s, struct pipeline *p, struct lb_error *err)
{
	const struct lb_delta_plan *plan = s->opt->plan;
	const struct lb_manifest *m = &s->header.manifest;
	struct job *j = pipeline_take(p);
	if (!j)
		return -EIO;
	int r = 0;
	for (uint32_t k = 0; r == 0 && k < plan->copy_count; k++) {
		uint32_t seq = plan->copy_order[k];
		unsigned i;
		uint32_t c;
		locate(m, seq, &i, &c);
		const struct lb_image *img = &m->images[i];
		uint32_t length = lb_image_chunk_length(img, c);
		uint8_t digest[LB_SHA256_SIZE];
		char where[128];
		*j = (struct job){.kind = JOB_WRITE, .image = img, .target = &s->targets[i], .index = c, .seq = seq,
				  .compressed = j->compressed, .data = j->data};
		if (cancelled(s->opt)) {
			r = lb_error_set(err, ECANCELED, LB_E_CANCELLED, "the install was cancelled");
			break;
		}
		if ((r = lb_target_read(j->target, j->data, length, plan->source[seq])) < 0) {
			r = lb_error_set(err, -r, LB_E_READ, "reading %s of %s at byte %llu to reuse it failed: %s",
					 chunk_where(j, where, sizeof(where)), j->target->path,
					 (unsigned long long)plan->source[seq], strerror(-r));
			break;
		}
		lb_sha256(j->data, length, digest);
		if (memcmp(digest, img->chunks[c].sha256, LB_SHA256_SIZE) != 0) {
			r = lb_error_set(err, ESTALE, LB_E_PLAN_STALE,
					 "%s is no longer at byte %llu of %s, where the plan found it: main changed "
					 "since the plan; ask for a new plan and send again",
					 chunk_where(j, where, sizeof(where)), (unsigned long long)plan->source[seq],
					 j->target->path);
			break;
		}
		remember_print(p, j, length);
		if ((r = lb_target_write(j->target, j->data, length, chunk_offset(j))) < 0) {
			r = lb_error_set(err, -r, LB_E_WRITE,
					 "writing %s to %s failed: %s. The card may be failing or too small; main is "
					 "not bootable until an install succeeds",
					 chunk_where(j, where, sizeof(where)), j->target->path, strerror(-r));
			break;
		}
		atomic_fetch_add(&p->written, length);
		s->progress.copied += length;
		s->progress.written = atomic_load(&p->written);
		report(s, LB_PHASE_WRITING);
	}
	pipeline_submit_free(p, j);
	return r;
}

/* A delta install's plan must be for the bundle whose header came in. */
static int check_plan(struct install *s, struct lb_error *err)
{
	int r = lb_delta_plan_check(s->opt->plan, &s->header);
	if (r == -ESRCH)
		return lb_error_set(err, EINVAL, LB_E_NO_PLAN,
				    "this delta upload is not for the bundle the device planned: ask for a plan for "
				    "this bundle (POST /api/install-plan) and send what it lists");
	if (r < 0)
		return lb_error_set(err, -r, LB_E_INTERNAL,
				    "the stored plan contradicts the bundle's manifest: ask for a new plan");
	return 0;
}

static int stream_payload(struct install *s, struct pipeline *p, struct lb_error *err)
{
	const struct lb_manifest *m = &s->header.manifest;
	uint32_t seq = 0;
	int r;

	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		for (uint32_t c = 0; c < img->chunk_count; c++, seq++) {
			if (seq < s->first_chunk)
				continue; /* written by the upload this one resumes */
			if (s->opt->plan && s->opt->plan->kind[seq] != LB_PLAN_SEND && s->opt->plan->kind[seq] != LB_PLAN_ZERO)
				continue; /* in place, or copied before the payload began */
			if (cancelled(s->opt))
				return lb_error_set(err, ECANCELED, LB_E_CANCELLED, "the install was cancelled");
			struct job *j = pipeline_take(p);
			if (!j)
				return -EIO; /* a worker failed: its error is in the pipeline */
			*j = (struct job){.kind = JOB_WRITE, .image = img, .target = &s->targets[i], .index = c,
					  .seq = seq, .compressed = j->compressed, .data = j->data};
			if (s->opt->dry_run)
				j->target = NULL;
			if ((r = receive_chunk(s, j, err)) < 0) {
				pipeline_submit_free(p, j);
				return r;
			}
			pipeline_submit(p, j);
			s->progress.written = atomic_load(&p->written);
			report(s, LB_PHASE_WRITING);
			checkpoint(s, p, false);
		}
	}
	return stream_payload_end(s, err);
}

static int stream_payload_end(struct install *s, struct lb_error *err)
{
	/* The manifest says where the bundle ends; anything after it is not covered by the
	 * signature and means the file is not what it claims to be. */
	uint8_t extra;
	ssize_t n = lb_input_read_full(s->in, &extra, 1);
	if (n < 0)
		return lb_error_set(err, (int)-n, LB_E_READ, "reading the end of the bundle failed: %s",
				    strerror((int)-n));
	if (n > 0)
		return lb_error_set(err, EBADMSG, LB_E_TRAILING_DATA,
				    "data follows the end of the bundle at byte %llu: the file was altered or two "
				    "files were joined; use the original bundle",
				    (unsigned long long)(s->in->consumed - 1));
	return 0;
}

static int readback(struct install *s, struct pipeline *p)
{
	const struct lb_manifest *m = &s->header.manifest;
	const struct lb_delta_plan *plan = s->opt->plan;
	uint32_t seq = 0;
	for (unsigned i = 0; i < m->image_count; i++)
		for (uint32_t c = 0; c < m->images[i].chunk_count; c++, seq++) {
			struct job *j = pipeline_take(p);
			if (!j)
				return -EIO;
			*j = (struct job){.kind = JOB_READBACK, .image = &m->images[i], .target = &s->targets[i],
					  .index = c, .seq = seq, .in_place = plan && plan->kind[seq] == LB_PLAN_IN_PLACE,
					  .compressed = j->compressed, .data = j->data};
			pipeline_submit(p, j);
			s->progress.readback = atomic_load(&p->readback);
			report(s, LB_PHASE_READBACK);
		}
	return pipeline_drain(p);
}

static int sync_targets(struct install *s, struct lb_error *err)
{
	for (unsigned i = 0; i < s->header.manifest.image_count; i++) {
		int r = lb_target_sync(&s->targets[i]);
		if (r < 0)
			return lb_error_set(err, -r, LB_E_WRITE,
					    "flushing %s failed: %s. The card may be failing; main is not bootable "
					    "until an install succeeds",
					    s->targets[i].path, strerror(-r));
	}
	return 0;
}

/* The written images as file systems, after their bytes were proved: a squashfs built from a
 * damaged tree is signed and hashed as faithfully as a good one, and would only fail at boot.
 * This reads the target once more, through its buffered descriptor; what it reads is what the
 * read-back already found on the medium. */
static int check_filesystems(struct install *s, struct lb_install_result *ret, struct lb_error *err)
{
	const struct lb_manifest *m = &s->header.manifest;
	for (unsigned i = 0; i < m->image_count; i++) {
		int r = lb_image_check(s->targets[i].fd_buffered, m->images[i].size, m->images[i].role, &ret->images[i],
				       err);
		if (r < 0)
			return r;
		ret->image_count = i + 1;
	}
	return 0;
}

/* A dry run checks chunks in order on this thread, which also lets it check each image's
 * whole-image hash: the one field the streaming path has no ordered view for. */
static int verify_in_order(struct install *s, struct pipeline *p, struct lb_error *err)
{
	const struct lb_manifest *m = &s->header.manifest;
	_cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!dctx)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for a decompressor");
	struct job *j = pipeline_take(p);
	int r = 0;

	for (unsigned i = 0; r == 0 && i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		struct lb_sha256_stream *whole = lb_sha256_stream_new();
		if (!whole)
			return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
		for (uint32_t c = 0; r == 0 && c < img->chunk_count; c++) {
			*j = (struct job){.kind = JOB_WRITE, .image = img, .index = c, .compressed = j->compressed,
					  .data = j->data};
			if ((r = receive_chunk(s, j, err)) < 0 || (r = write_job(p, j, dctx, err)) < 0)
				break;
			uint32_t length = lb_image_chunk_length(img, c);
			lb_sha256_stream_update(whole, img->chunks[c].compressed_size ? j->data : p->zeros, length);
			s->progress.written = atomic_load(&p->written);
			report(s, LB_PHASE_WRITING);
		}
		uint8_t digest[LB_SHA256_SIZE];
		lb_sha256_stream_final(whole, digest);
		lb_sha256_stream_free(whole);
		if (r == 0 && memcmp(digest, img->sha256, LB_SHA256_SIZE) != 0)
			r = lb_error_set(err, EBADMSG, LB_E_CHUNK_CORRUPT,
					 "image '%s' does not match its whole-image hash although every chunk "
					 "matched: the bundle was built wrongly; build it again",
					 img->role);
	}
	pipeline_submit_free(p, j);
	return r;
}

/* One worker per CPU: more did not measurably speed up the read-back on a loop device
 * (bench/run), and each worker costs two chunk buffers against the 16 MiB memory goal. */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

/* Whether an install that failed with `code` can go on where it stopped: only when the input
 * was cut. Anything the bundle or the target is to blame for starts over. */
static bool resumable_error(enum lb_code code)
{
	return code == LB_E_TRUNCATED || code == LB_E_CANCELLED || code == LB_E_READ;
}

/* The header, from the input (a fresh install) or from the session being resumed: either way
 * the same reader, so that a stored header passes exactly the checks a received one does. */
static int read_header(struct install *s, struct lb_error *err)
{
	const struct lb_session *resume = s->opt->resume;
	if (!resume)
		return lb_bundle_read_header(s->in, &s->header, err);

	struct lb_input_buffer b = {.data = resume->header, .size = resume->header_size};
	struct lb_input hin;
	lb_input_init_buffer(&hin, &b);
	int r = lb_bundle_read_header(&hin, &s->header, err);
	if (r == 0 && b.pos != b.size)
		r = lb_error_set(err, EBADMSG, LB_E_MANIFEST_INVALID,
				 "the stored header of the upload to resume has %zu bytes too many: send the "
				 "whole bundle again",
				 b.size - b.pos);
	return r;
}

/* For a resumed install, once the header is parsed: the session's resume point must be a chunk
 * boundary of this very manifest, and the input stands there. */
static int position_resume(struct install *s, struct lb_error *err)
{
	const struct lb_session *resume = s->opt->resume;
	uint32_t chunks = lb_manifest_chunk_count(&s->header.manifest);
	if (resume->next_chunk > chunks ||
	    lb_bundle_chunk_offset(&s->header, resume->next_chunk) != resume->resume_offset ||
	    lb_bundle_size(&s->header) != resume->bundle_size)
		return lb_error_set(err, EINVAL, LB_E_INTERNAL,
				    "the upload session does not fit its own manifest: send the whole bundle "
				    "again");
	s->first_chunk = resume->next_chunk;
	s->in->consumed = resume->resume_offset;
	s->progress.resumed = resume->resume_offset;
	return 0;
}

/* The image bytes of the chunks before `first`: written by the upload being resumed. */
static uint64_t bytes_before(const struct lb_manifest *m, uint32_t first)
{
	uint64_t bytes = 0;
	for (unsigned i = 0; i < m->image_count && first > 0; i++) {
		uint32_t n = first < m->images[i].chunk_count ? first : m->images[i].chunk_count;
		bytes += n == m->images[i].chunk_count ? m->images[i].size : (uint64_t)n * m->images[i].chunk_size;
		first -= n;
	}
	return bytes;
}

int lb_install_plan(struct lb_input *in, const struct lb_install_options *opt, struct lb_bundle_header *ret_header,
		    struct lb_delta_plan *ret, struct lb_error *err)
{
	struct install s = {.opt = opt, .in = in};
	const char *paths[LB_IMAGES_MAX];
	int r;

	for (unsigned i = 0; i < LB_IMAGES_MAX; i++)
		s.targets[i] = (struct lb_target){.fd = -1, .fd_buffered = -1};
	if (opt->dry_run || !opt->compatible)
		r = lb_error_set(err, EINVAL, LB_E_USAGE, "planning needs the device's board and targets");
	else if ((r = lb_bundle_read_header(in, &s.header, err)) == 0 && (r = authenticate(&s, err)) == 0 &&
		 (r = lb_bundle_header_parse(&s.header, err)) == 0 && (r = check_header(&s, err)) == 0) {
		for (unsigned i = 0; i < s.header.manifest.image_count; i++)
			paths[i] = s.targets[i].path;
		r = lb_delta_plan_make(&s.header, paths, ret, err);
	}
	for (unsigned i = 0; i < LB_IMAGES_MAX; i++)
		lb_target_close(&s.targets[i]);
	if (r < 0)
		lb_bundle_header_free(&s.header);
	else
		*ret_header = s.header;
	return r;
}

int lb_install(struct lb_input *in, const struct lb_install_options *opt, struct lb_install_result *ret,
	       struct lb_error *err)
{
	struct install s = {.opt = opt, .in = in};
	struct pipeline p;
	bool pipeline_running = false;
	int r;

	*ret = (struct lb_install_result){0};
	for (unsigned i = 0; i < LB_IMAGES_MAX; i++)
		s.targets[i] = (struct lb_target){.fd = -1, .fd_buffered = -1};

	if (!opt->dry_run && !opt->compatible) {
		r = lb_error_set(err, EINVAL, LB_E_USAGE,
				 "this device's compatible string is not configured: set compatible= in "
				 "lifeboat.conf or pass --compatible");
		goto finish;
	}
	if (opt->plan && (opt->dry_run || opt->resume)) {
		r = lb_error_set(err, EINVAL, LB_E_USAGE, "a delta install is a real install, never a resumed one");
		goto finish;
	}
	if (opt->resume && (opt->dry_run || !opt->session_dir)) {
		r = lb_error_set(err, EINVAL, LB_E_USAGE, "resuming needs a session directory and a real install");
		goto finish;
	}
	/* A resumed install's targets hold part of a bundle already; a fresh one ends any session. A
	 * delta one ends it only once its plan is found to be for its bundle (below): a delta upload
	 * without a plan for it writes nothing, and must not cost a cut full upload its resume point. */
	ret->target_touched = opt->resume != NULL;
	if (opt->session_dir && !opt->resume && !opt->dry_run && !opt->plan)
		lb_session_discard(opt->session_dir);

	s.progress.delta = opt->plan != NULL;
	report(&s, LB_PHASE_RECEIVING);
	if ((r = read_header(&s, err)) < 0)
		goto finish;
	report(&s, LB_PHASE_VERIFYING);
	if ((r = authenticate(&s, err)) < 0 || (r = lb_bundle_header_parse(&s.header, err)) < 0)
		goto finish;
	if (opt->resume && (r = position_resume(&s, err)) < 0)
		goto finish;
	if (opt->plan && (r = check_plan(&s, err)) < 0)
		goto finish;
	if (opt->plan && opt->session_dir)
		lb_session_discard(opt->session_dir);

	const struct lb_manifest *m = &s.header.manifest;
	snprintf(ret->compatible, sizeof(ret->compatible), "%s", m->compatible);
	snprintf(ret->version, sizeof(ret->version), "%s", m->version);
	ret->bundle_size = lb_bundle_size(&s.header);
	if (opt->announced_size && opt->announced_size < ret->bundle_size) {
		r = lb_error_set(err, EPIPE, LB_E_TRUNCATED,
				 "the upload announced %llu bytes but bundle version %s is %llu bytes: the file is "
				 "incomplete; send the whole bundle",
				 (unsigned long long)opt->announced_size, m->version,
				 (unsigned long long)ret->bundle_size);
		goto finish;
	}
	if (opt->announced_size > ret->bundle_size) {
		r = lb_error_set(err, EBADMSG, LB_E_TRAILING_DATA,
				 "the upload announced %llu bytes but bundle version %s ends at byte %llu: the file "
				 "was altered or two files were joined; send the original bundle",
				 (unsigned long long)opt->announced_size, m->version,
				 (unsigned long long)ret->bundle_size);
		goto finish;
	}
	size_t chunk_max = 0;
	for (unsigned i = 0; i < m->image_count; i++) {
		ret->image_bytes += m->images[i].size;
		if (m->images[i].chunk_size > chunk_max)
			chunk_max = m->images[i].chunk_size;
	}
	s.progress.manifest = m;
	s.progress.bundle_size = opt->plan ? opt->plan->send_bytes : ret->bundle_size;
	s.progress.image_total = ret->image_bytes;
	if (opt->plan) {
		s.progress.delta = true;
		s.progress.reused = opt->plan->reused_bytes;
		s.progress.copy_total = opt->plan->copy_bytes;
		s.progress.bundle_total = ret->bundle_size;
	}
	report(&s, LB_PHASE_VERIFYING);

	if ((r = check_header(&s, err)) < 0)
		goto finish;
	if (opt->boot && !opt->dry_run && (r = lb_boot_invalidate(opt->boot, opt->boot_slot, err)) < 0)
		goto finish;
	if (opt->before_write && (r = opt->before_write(m, opt->userdata, err)) < 0)
		goto finish;

	unsigned threads = opt->dry_run ? 0 : opt->threads ? opt->threads : default_threads();
	uint32_t chunks = lb_manifest_chunk_count(m);
	if ((r = pipeline_start(&p, threads, chunk_max, chunks, s.first_chunk, err)) < 0) {
		pipeline_stop(&p);
		goto finish;
	}
	pipeline_running = true;
	for (uint32_t c = 0; c < s.first_chunk; c++)
		p.done[c] = 1;
	atomic_store(&p.written, bytes_before(m, s.first_chunk));
	ret->target_touched = !opt->dry_run;
	/* Without a session the install goes on all the same, only not resumable. A delta install
	 * keeps none: a new plan finds what it wrote. */
	if (opt->session_dir && !opt->dry_run && !opt->plan)
		s.session_open = lb_session_begin(opt->session_dir, &s.header, s.first_chunk, &s.session) == 0;
	s.checkpointed = monotonic_now();
	report(&s, LB_PHASE_WRITING);

	if (opt->dry_run) {
		r = verify_in_order(&s, &p, err);
		if (r == 0)
			r = stream_payload_end(&s, err);
		goto finish;
	}

	if (opt->plan) {
		for (uint32_t c = 0; c < chunks; c++)
			if (opt->plan->kind[c] == LB_PLAN_IN_PLACE)
				p.done[c] = 1;
		if ((r = copy_planned(&s, &p, err)) < 0)
			goto finish;
	}
	r = stream_payload(&s, &p, err);
	if (pipeline_drain(&p) < 0 && r == 0)
		r = -EIO;
	if (r < 0)
		goto finish;
	s.progress.written = atomic_load(&p.written);
	report(&s, LB_PHASE_SYNCING);
	if ((r = sync_targets(&s, err)) < 0)
		goto finish;
	/* A delta install never wrote its in-place chunks: only the read-back proves them. */
	if (opt->readback || opt->plan) {
		report(&s, LB_PHASE_READBACK);
		if ((r = readback(&s, &p)) < 0)
			goto finish;
		s.progress.readback = atomic_load(&p.readback);
		ret->read_back = true;
	}
	/* still the read-back phase for the progress: it reads what was written once more */
	if ((r = check_filesystems(&s, ret, err)) < 0)
		goto finish;
	if (opt->boot)
		r = lb_boot_activate(opt->boot, opt->boot_slot, s.header.manifest.version, err);

finish:
	if (pipeline_running) {
		/* A worker's error is the root cause; the reader's (usually "stopped") comes second. */
		if (lb_error_failed(&p.err)) {
			*err = p.err;
			if (r == 0)
				r = -EIO;
		}
		/* A cut input leaves a session to resume from: every chunk in the written prefix was
		 * checked against the signed manifest before it was written. The pipeline is drained
		 * here (stream_payload's caller waited for it), so the prefix is final. */
		if (r < 0 && s.session_open && resumable_error(err->code)) {
			pipeline_drain(&p);
			struct lb_error sync_err = {0};
			if (sync_targets(&s, &sync_err) == 0) {
				checkpoint(&s, &p, true);
				ret->resumable = true;
				ret->next_chunk = s.session.next_chunk;
				ret->resume_offset = s.session.resume_offset;
			}
		}
		pipeline_stop(&p);
	}
	if (opt->session_dir && !opt->dry_run && !ret->resumable && (s.session_open || opt->resume))
		lb_session_discard(opt->session_dir);
	lb_session_free(&s.session);
	for (unsigned i = 0; i < LB_IMAGES_MAX; i++)
		lb_target_close(&s.targets[i]);
	report(&s, r < 0 ? LB_PHASE_FAILED : LB_PHASE_DONE);
	s.progress.manifest = NULL;
	lb_bundle_header_free(&s.header);
	return r;
}
