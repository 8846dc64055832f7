#include "delta-plan.h"
#include "chunk-index.h"
#include "io.h"
#include "macro.h"
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char kind_letter[] = {[LB_PLAN_SEND] = 's', [LB_PLAN_ZERO] = 'z', [LB_PLAN_IN_PLACE] = 'i',
				   [LB_PLAN_COPY] = 'c'};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* How much of a target the old image covers, from its superblock: an ext4 or a squashfs says
 * its own size. Indexing stops there (plus the new image's size) instead of reading a partition
 * that may be far larger than anything ever written to it. 0: unknown, read it all. */
static uint64_t source_extent(const char *path, uint64_t image_size)
{
	uint8_t sb[2048];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int r = lb_pread_full(fd, sb, sizeof(sb), 0);
	close(fd);
	if (r < 0)
		return 0;
	uint64_t old = 0;
	if (memcmp(sb, "hsqs", 4) == 0) {
		for (int i = 7; i >= 0; i--)
			old = old << 8 | sb[40 + i];
	} else if (sb[1024 + 56] == 0x53 && sb[1024 + 57] == 0xef) {
		uint64_t blocks = le32(sb + 1024 + 4);
		uint32_t log = le32(sb + 1024 + 24);
		if (log > 6)
			return 0;
		if (le32(sb + 1024 + 0x60) & 0x80) /* INCOMPAT_64BIT: the count's high half */
			blocks |= (uint64_t)le32(sb + 1024 + 0x150) << 32;
		old = blocks << (10 + log);
	} else
		return 0;
	return old > image_size ? old : image_size;
}

static uint32_t first_seq(const struct lb_manifest *m, unsigned image)
{
	uint32_t seq = 0;
	for (unsigned i = 0; i < image; i++)
		seq += m->images[i].chunk_count;
	return seq;
}

static void count(const struct lb_manifest *m, uint64_t header_size, struct lb_delta_plan *p)
{
	p->send = p->zero = p->in_place = p->moved = 0;
	p->send_bytes = header_size;
	p->reused_bytes = p->copy_bytes = 0;
	uint32_t seq = 0;
	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		for (uint32_t c = 0; c < img->chunk_count; c++, seq++) {
			uint32_t length = lb_image_chunk_length(img, c);
			switch (p->kind[seq]) {
			case LB_PLAN_SEND:
				p->send++;
				p->send_bytes += img->chunks[c].compressed_size;
				break;
			case LB_PLAN_ZERO:
				p->zero++;
				break;
			case LB_PLAN_IN_PLACE:
				p->in_place++;
				p->reused_bytes += length;
				break;
			case LB_PLAN_COPY:
				p->moved++;
				p->reused_bytes += length;
				p->copy_bytes += length;
				break;
			}
		}
	}
}

int lb_delta_plan_order(const struct lb_manifest *m, uint64_t header_size, struct lb_delta_plan *p)
{
	uint32_t n = p->chunk_count;
	_cleanup_free_ uint32_t *indeg = calloc(n + 1, sizeof(*indeg));
	_cleanup_free_ uint32_t *succ = malloc((2 * (size_t)n + 1) * sizeof(*succ));
	_cleanup_free_ uint32_t *queue = malloc((n + 1) * sizeof(*queue));
	_cleanup_free_ uint8_t *removed = calloc(n + 1, 1);
	free(p->copy_order);
	p->copy_order = malloc((n + 1) * sizeof(*p->copy_order));
	if (!indeg || !succ || !queue || !removed || !p->copy_order)
		return -ENOMEM;

	/* c -> d when c's source meets d's chunk: c must be read before d is written. A source is
	 * at most one chunk long, so it meets at most two chunks. */
	uint32_t copies = 0;
	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		uint32_t first = first_seq(m, i);
		for (uint32_t c = 0; c < img->chunk_count; c++) {
			uint32_t s = first + c;
			succ[2 * s] = succ[2 * s + 1] = UINT32_MAX;
			if (p->kind[s] != LB_PLAN_COPY)
				continue;
			copies++;
			uint64_t a = p->source[s] / img->chunk_size;
			uint64_t b = (p->source[s] + lb_image_chunk_length(img, c) - 1) / img->chunk_size;
			uint64_t met[2] = {a, b};
			for (unsigned k = 0; k < (a == b ? 1u : 2u); k++) {
				uint64_t d = met[k];
				if (d >= img->chunk_count || d == c || p->kind[first + d] != LB_PLAN_COPY)
					continue;
				succ[2 * s + k] = first + (uint32_t)d;
				indeg[first + d]++;
			}
		}
	}

	/* Kahn's order, lowest seq first among the ready; a stall means a cycle, broken by sending
	 * its lowest-numbered chunk, which then neither reads nor constrains anything. */
	uint32_t head = 0, tail = 0, cursor = 0;
	p->copy_count = 0;
	p->cycles_broken = 0;
	for (uint32_t s = 0; s < n; s++)
		if (p->kind[s] == LB_PLAN_COPY && indeg[s] == 0)
			queue[tail++] = s;
	for (;;) {
		while (head < tail) {
			uint32_t s = queue[head++];
			removed[s] = 1;
			p->copy_order[p->copy_count++] = s;
			for (unsigned k = 0; k < 2; k++) {
				uint32_t d = succ[2 * s + k];
				if (d != UINT32_MAX && !removed[d] && --indeg[d] == 0)
					queue[tail++] = d;
			}
		}
		if (p->copy_count + p->cycles_broken == copies)
			break;
		while (cursor < n && (removed[cursor] || p->kind[cursor] != LB_PLAN_COPY))
			cursor++;
		uint32_t s = cursor;
		p->kind[s] = LB_PLAN_SEND;
		removed[s] = 1;
		p->cycles_broken++;
		for (unsigned k = 0; k < 2; k++) {
			uint32_t d = succ[2 * s + k];
			if (d != UINT32_MAX && !removed[d] && --indeg[d] == 0)
				queue[tail++] = d;
		}
	}
	count(m, header_size, p);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int plan_alloc(struct lb_delta_plan *p, const struct lb_manifest *m)
{
	p->chunk_count = lb_manifest_chunk_count(m);
	p->kind = calloc(p->chunk_count + 1, 1);
	p->source = calloc(p->chunk_count + 1, sizeof(*p->source));
	return p->kind && p->source ? 0 : -ENOMEM;
}

static int plan_image(const struct lb_image *img, const char *path, uint32_t first, struct lb_delta_plan *p,
		      struct lb_error *err)
{
	struct lb_chunk_index *idx = NULL;
	_cleanup_free_ struct lb_chunk_want *wants = calloc(img->chunk_count, sizeof(*wants));
	_cleanup_free_ uint64_t *offsets = calloc(img->chunk_count, sizeof(*offsets));
	if (!wants || !offsets)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory planning %u chunks", img->chunk_count);
	for (uint32_t c = 0; c < img->chunk_count; c++)
		lb_chunk_want_from_manifest(img, c, &wants[c]);

	int r = lb_chunk_index_new(path, source_extent(path, img->size), img->chunk_size, LB_CHUNK_INDEX_BLOCK, &idx,
				   err);
	if (r < 0)
		return r;
	r = lb_chunk_index_match(idx, wants, img->chunk_count, offsets, NULL, err);
	p->source_bytes += lb_chunk_index_source_size(idx);
	lb_chunk_index_free(idx);
	if (r < 0)
		return r;
	for (uint32_t c = 0; c < img->chunk_count; c++) {
		uint32_t s = first + c;
		if (wants[c].zero)
			p->kind[s] = LB_PLAN_ZERO;
		else if (offsets[c] == LB_CHUNK_NONE)
			p->kind[s] = LB_PLAN_SEND;
		else if (offsets[c] == (uint64_t)c * img->chunk_size)
			p->kind[s] = LB_PLAN_IN_PLACE;
		else {
			p->kind[s] = LB_PLAN_COPY;
			p->source[s] = offsets[c];
		}
	}
	return 0;
}

int lb_delta_plan_make(const struct lb_bundle_header *h, const char *const *target_paths, struct lb_delta_plan *ret,
		       struct lb_error *err)
{
	const struct lb_manifest *m = &h->manifest;
	struct lb_delta_plan p = {0};
	double started = now();
	int r;

	lb_sha256(h->manifest_text, h->manifest_size, p.manifest_sha256);
	if (plan_alloc(&p, m) < 0) {
		r = lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the plan");
		goto fail;
	}
	for (unsigned i = 0; i < m->image_count; i++)
		if ((r = plan_image(&m->images[i], target_paths[i], first_seq(m, i), &p, err)) < 0)
			goto fail;
	if ((r = lb_delta_plan_order(m, h->header_size, &p)) < 0) {
		r = lb_error_set(err, -r, LB_E_INTERNAL, "out of memory ordering the copies");
		goto fail;
	}
	p.seconds = now() - started;
	*ret = p;
	return 0;
fail:
	lb_delta_plan_free(&p);
	return r;
}

static void plan_path(char *buf, size_t size, const char *dir)
{
	snprintf(buf, size, "%s/%s", dir, LB_PLAN_FILE);
}

int lb_delta_plan_save(const char *dir, const struct lb_delta_plan *p)
{
	char path[4096], hex[LB_SHA256_HEX_SIZE + 1];
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	lb_hex_encode(p->manifest_sha256, LB_SHA256_SIZE, hex);
	fprintf(f, "manifest_sha256=%s\nchunks=%" PRIu32 "\nkinds=", hex, p->chunk_count);
	for (uint32_t s = 0; s < p->chunk_count; s++)
		fputc(kind_letter[p->kind[s]], f);
	fputc('\n', f);
	for (uint32_t k = 0; k < p->copy_count; k++)
		fprintf(f, "copy=%" PRIu32 " %" PRIu64 "\n", p->copy_order[k], p->source[p->copy_order[k]]);
	fprintf(f, "seconds=%.3f\nsource_bytes=%" PRIu64 "\n", p->seconds, p->source_bytes);
	if (fclose(f) != 0)
		return -ENOMEM;
	plan_path(path, sizeof(path), dir);
	return lb_write_file_atomic(path, text, size, 0644);
}

static int parse_kinds(const char *v, struct lb_delta_plan *p)
{
	if (strlen(v) != p->chunk_count)
		return -EBADMSG;
	for (uint32_t s = 0; s < p->chunk_count; s++) {
		const char *k = memchr(kind_letter, v[s], sizeof(kind_letter));
		if (!k || !v[s])
			return -EBADMSG;
		p->kind[s] = (uint8_t)(k - kind_letter);
	}
	return 0;
}

int lb_delta_plan_load(const char *dir, struct lb_delta_plan *ret)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	struct lb_delta_plan p = {0};
	bool have_hash = false;
	int r;

	plan_path(path, sizeof(path), dir);
	if ((r = lb_read_file(path, 16u << 20, &text, NULL)) < 0)
		return r;
	char *cursor = text, *key, *v;
	while (r == 0 && lb_next_key_value(&cursor, &key, &v)) {
		uint32_t seq;
		uint64_t source;
		if (!strcmp(key, "manifest_sha256"))
			have_hash = lb_hex_decode(v, strlen(v), p.manifest_sha256, LB_SHA256_SIZE);
		else if (!strcmp(key, "chunks") && !p.kind) {
			unsigned long n = strtoul(v, NULL, 10);
			if (n == 0 || n > LB_CHUNKS_MAX) {
				r = -EBADMSG;
				break;
			}
			p.chunk_count = (uint32_t)n;
			p.kind = calloc(n + 1, 1);
			p.source = calloc(n + 1, sizeof(*p.source));
			p.copy_order = malloc((n + 1) * sizeof(*p.copy_order));
			if (!p.kind || !p.source || !p.copy_order)
				r = -ENOMEM;
		} else if (!strcmp(key, "kinds") && p.kind)
			r = parse_kinds(v, &p);
		else if (!strcmp(key, "copy") && p.kind && sscanf(v, "%" SCNu32 " %" SCNu64, &seq, &source) == 2 &&
			 seq < p.chunk_count && p.copy_count < p.chunk_count) {
			p.source[seq] = source;
			p.copy_order[p.copy_count++] = seq;
		} else if (!strcmp(key, "seconds"))
			p.seconds = strtod(v, NULL);
		else if (!strcmp(key, "source_bytes"))
			p.source_bytes = strtoull(v, NULL, 10);
		else
			r = -EBADMSG;
	}
	if (r == 0 && (!have_hash || !p.kind))
		r = -EBADMSG;
	if (r < 0) {
		lb_delta_plan_free(&p);
		return r;
	}
	*ret = p;
	return 0;
}

int lb_delta_plan_check(struct lb_delta_plan *p, const struct lb_bundle_header *h)
{
	const struct lb_manifest *m = &h->manifest;
	uint8_t digest[LB_SHA256_SIZE];
	lb_sha256(h->manifest_text, h->manifest_size, digest);
	if (memcmp(digest, p->manifest_sha256, LB_SHA256_SIZE) != 0 || p->chunk_count != lb_manifest_chunk_count(m))
		return -ESRCH;
	/* Zero chunks are the manifest's, and every copy is listed exactly once. */
	_cleanup_free_ uint8_t *listed = calloc(p->chunk_count + 1, 1);
	if (!listed)
		return -ENOMEM;
	for (uint32_t k = 0; k < p->copy_count; k++) {
		uint32_t seq = p->copy_order[k];
		if (p->kind[seq] != LB_PLAN_COPY || listed[seq]++)
			return -EBADMSG;
	}
	uint32_t seq = 0;
	for (unsigned i = 0; i < m->image_count; i++)
		for (uint32_t c = 0; c < m->images[i].chunk_count; c++, seq++) {
			bool zero = m->images[i].chunks[c].compressed_size == 0;
			if (zero != (p->kind[seq] == LB_PLAN_ZERO) || (p->kind[seq] == LB_PLAN_COPY && !listed[seq]))
				return -EBADMSG;
		}
	count(m, h->header_size, p);
	return 0;
}

void lb_delta_plan_discard(const char *dir)
{
	char path[4096];
	plan_path(path, sizeof(path), dir);
	(void)unlink(path);
}

void lb_delta_plan_free(struct lb_delta_plan *p)
{
	free(p->kind);
	free(p->source);
	free(p->copy_order);
	*p = (struct lb_delta_plan){0};
}

void lb_delta_plan_json(const struct lb_delta_plan *p, const struct lb_bundle_header *h, FILE *f)
{
	const struct lb_manifest *m = &h->manifest;
	char hex[LB_SHA256_HEX_SIZE + 1];
	uint64_t image_bytes = 0;
	for (unsigned i = 0; i < m->image_count; i++)
		image_bytes += m->images[i].size;
	lb_hex_encode(p->manifest_sha256, LB_SHA256_SIZE, hex);
	fprintf(f,
		"{\"manifest_sha256\":\"%s\",\"bundle_size\":%" PRIu64 ",\"header_size\":%" PRIu64
		",\"send_bytes\":%" PRIu64 ",\"image_bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
		",\"copy_bytes\":%" PRIu64 ",\"chunks\":%" PRIu32 ",\"send\":%" PRIu32 ",\"in_place\":%" PRIu32
		",\"moved\":%" PRIu32 ",\"zero\":%" PRIu32 ",\"cycles_broken\":%" PRIu32 ",\"source_bytes\":%" PRIu64
		",\"seconds\":%.3f,\"ranges\":[",
		hex, lb_bundle_size(h), h->header_size, p->send_bytes, image_bytes, p->reused_bytes, p->copy_bytes,
		p->chunk_count, p->send, p->in_place, p->moved, p->zero, p->cycles_broken, p->source_bytes, p->seconds);

	uint64_t (*ranges)[2] = NULL;
	size_t count = lb_delta_plan_ranges(p, h, &ranges);
	for (size_t k = 0; k < count; k++)
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", k ? "," : "", ranges[k][0], ranges[k][1]);
	free(ranges);
	fputs("]}", f);
}

size_t lb_delta_plan_ranges(const struct lb_delta_plan *p, const struct lb_bundle_header *h, uint64_t (**ret)[2])
{
	const struct lb_manifest *m = &h->manifest;
	/* at most one range per sent chunk, and the header's */
	uint64_t(*r)[2] = malloc(((size_t)p->send + 1) * sizeof(*r));
	*ret = r;
	if (!r)
		return 0;
	/* The header, then each sent frame; a frame that starts where the last range ends extends it. */
	size_t n = 0;
	r[0][0] = 0;
	r[0][1] = h->header_size;
	uint64_t offset = h->header_size;
	uint32_t seq = 0;
	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		for (uint32_t c = 0; c < img->chunk_count; c++, seq++) {
			uint32_t size = img->chunks[c].compressed_size;
			if (p->kind[seq] == LB_PLAN_SEND && size) {
				if (r[n][0] + r[n][1] != offset) {
					n++;
					r[n][0] = offset;
					r[n][1] = 0;
				}
				r[n][1] += size;
			}
			offset += size;
		}
	}
	return n + 1;
}
