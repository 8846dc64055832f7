/* The index of what a device already holds, and the matching of a new image's chunks against it
 * (chunk-index.h says how and why). */
#include "chunk-index.h"

#include "io.h"
#include "macro.h"
#include "manifest.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* Bytes read at a time while indexing with the 4 KiB step (a multiple of the block). */
#define INDEX_READ_SIZE (4u << 20)

struct aligned_entry {
	uint8_t sha256[LB_SHA256_SIZE];
	uint32_t chunk; /* its number in the source: offset chunk * chunk_size */
	uint32_t length;
};

struct block_entry {
	uint32_t key;
	uint32_t block; /* offset block * LB_CHUNK_INDEX_BLOCK */
};

struct lb_chunk_index {
	int fd;
	uint64_t size;
	uint32_t chunk_size, step;
	struct aligned_entry *chunks; /* step == chunk_size: sorted by hash, then chunk number */
	size_t chunk_count;
	struct block_entry *blocks; /* step == 4096: the non-zero blocks, sorted by key, then block */
	size_t block_count;
};

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline uint64_t rotl64(uint64_t v, unsigned r)
{
	return (v << r) | (v >> (64 - r));
}

/* Four independent multiply-xorshift lanes, so that the multiplications overlap: a 4 KiB block
 * costs a few hundred cycles, far less than reading it. `ret_nonzero` comes from the same pass. */
static uint32_t block_key(const uint8_t *p, bool *ret_nonzero)
{
	const uint64_t m = 0x9e3779b97f4a7c15u;
	uint64_t h0 = 0x243f6a8885a308d3u, h1 = 0x13198a2e03707344u, h2 = 0xa4093822299f31d0u,
		 h3 = 0x082efa98ec4e6c89u, any = 0;
	for (size_t i = 0; i < LB_CHUNK_INDEX_BLOCK; i += 32) {
		uint64_t w0 = load_le64(p + i), w1 = load_le64(p + i + 8), w2 = load_le64(p + i + 16),
			 w3 = load_le64(p + i + 24);
		any |= w0 | w1 | w2 | w3;
		h0 = (h0 ^ w0) * m;
		h0 ^= h0 >> 29;
		h1 = (h1 ^ w1) * m;
		h1 ^= h1 >> 29;
		h2 = (h2 ^ w2) * m;
		h2 ^= h2 >> 29;
		h3 = (h3 ^ w3) * m;
		h3 ^= h3 >> 29;
	}
	/* murmur3's finaliser over the lanes together */
	uint64_t h = h0 ^ rotl64(h1, 16) ^ rotl64(h2, 32) ^ rotl64(h3, 48);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	if (ret_nonzero)
		*ret_nonzero = any != 0;
	return (uint32_t)(h >> 32);
}

uint32_t lb_block_key(const void *block)
{
	return block_key(block, NULL);
}

bool lb_chunk_anchor(const void *data, uint32_t length, uint32_t *ret_offset, uint32_t *ret_key)
{
	const uint8_t *p = data;
	for (uint32_t off = 0; off + LB_CHUNK_INDEX_BLOCK <= length; off += LB_CHUNK_INDEX_BLOCK) {
		bool nonzero;
		uint32_t key = block_key(p + off, &nonzero);
		if (nonzero) {
			*ret_offset = off;
			*ret_key = key;
			return true;
		}
	}
	return false;
}

void lb_chunk_want_from_data(const void *data, uint32_t length, struct lb_chunk_want *ret)
{
	struct lb_chunk_want w = {.length = length};
	lb_sha256(data, length, w.sha256);
	w.has_anchor = lb_chunk_anchor(data, length, &w.anchor_offset, &w.anchor_key);
	/* no non-zero whole block: zero, unless the bytes are in a last partial block */
	w.zero = !w.has_anchor && lb_is_zero(data, length);
	*ret = w;
}

void lb_chunk_want_from_manifest(const struct lb_image *img, uint32_t index, struct lb_chunk_want *ret)
{
	const struct lb_chunk *c = &img->chunks[index];
	*ret = (struct lb_chunk_want){.length = lb_image_chunk_length(img, index),
				      .zero = c->compressed_size == 0,
				      .has_anchor = c->has_anchor,
				      .anchor_offset = c->anchor_offset,
				      .anchor_key = c->anchor_key};
	memcpy(ret->sha256, c->sha256, LB_SHA256_SIZE);
}

static int cmp_aligned(const void *a, const void *b)
{
	const struct aligned_entry *x = a, *y = b;
	int c = memcmp(x->sha256, y->sha256, LB_SHA256_SIZE);
	if (c)
		return c;
	return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

static int cmp_block(const void *a, const void *b)
{
	const struct block_entry *x = a, *y = b;
	if (x->key != y->key)
		return (x->key > y->key) - (x->key < y->key);
	return (x->block > y->block) - (x->block < y->block);
}

static int source_size(int fd, const char *path, uint64_t *ret, struct lb_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lb_error_set(err, errno, LB_E_IO, "cannot stat %s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*ret = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return lb_error_set(err, errno, LB_E_IO, "cannot read the size of %s: %s", path,
					    strerror(errno));
		*ret = size;
		return 0;
	}
	return lb_error_set(err, EINVAL, LB_E_USAGE, "%s is neither an image file nor a block device", path);
}

static int read_error(const char *path, uint64_t offset, int r, struct lb_error *err)
{
	return lb_error_set(err, -r, LB_E_READ, "cannot read %s at byte %" PRIu64 ": %s", path, offset,
			    strerror(-r));
}

static int index_aligned(struct lb_chunk_index *idx, const char *path, struct lb_error *err)
{
	uint64_t count = (idx->size + idx->chunk_size - 1) / idx->chunk_size;
	if (count > UINT32_MAX)
		return lb_error_set(err, EFBIG, LB_E_USAGE, "%s is too large to index", path);
	_cleanup_free_ uint8_t *buf = malloc(idx->chunk_size);
	idx->chunks = calloc(count ? count : 1, sizeof(*idx->chunks));
	if (!buf || !idx->chunks)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory indexing %s", path);
	for (uint64_t c = 0; c < count; c++) {
		uint64_t off = c * idx->chunk_size;
		uint32_t n =
		    idx->size - off < idx->chunk_size ? (uint32_t)(idx->size - off) : idx->chunk_size;
		int r = lb_pread_full(idx->fd, buf, n, off);
		if (r < 0)
			return read_error(path, off, r, err);
		struct aligned_entry *e = &idx->chunks[c];
		lb_sha256(buf, n, e->sha256);
		e->chunk = (uint32_t)c;
		e->length = n;
	}
	idx->chunk_count = count;
	qsort(idx->chunks, idx->chunk_count, sizeof(*idx->chunks), cmp_aligned);
	return 0;
}

static int index_blocks(struct lb_chunk_index *idx, const char *path, struct lb_error *err)
{
	uint64_t count = idx->size / LB_CHUNK_INDEX_BLOCK; /* whole blocks: a partial last one is no anchor */
	if (count > UINT32_MAX)
		return lb_error_set(err, EFBIG, LB_E_USAGE, "%s is too large to index", path);
	_cleanup_free_ uint8_t *buf = malloc(INDEX_READ_SIZE);
	idx->blocks = malloc((count ? count : 1) * sizeof(*idx->blocks));
	if (!buf || !idx->blocks)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory indexing %s", path);
	size_t n_entries = 0;
	for (uint64_t b = 0; b < count;) {
		uint64_t off = b * LB_CHUNK_INDEX_BLOCK;
		uint64_t n_blocks = count - b < INDEX_READ_SIZE / LB_CHUNK_INDEX_BLOCK
					? count - b
					: INDEX_READ_SIZE / LB_CHUNK_INDEX_BLOCK;
		int r = lb_pread_full(idx->fd, buf, n_blocks * LB_CHUNK_INDEX_BLOCK, off);
		if (r < 0)
			return read_error(path, off, r, err);
		for (uint64_t i = 0; i < n_blocks; i++) {
			bool nonzero;
			uint32_t key = block_key(buf + i * LB_CHUNK_INDEX_BLOCK, &nonzero);
			if (nonzero)
				idx->blocks[n_entries++] =
				    (struct block_entry){.key = key, .block = (uint32_t)(b + i)};
		}
		b += n_blocks;
	}
	idx->block_count = n_entries;
	/* keep only what the zero blocks left over */
	struct block_entry *shrunk = realloc(idx->blocks, (n_entries ? n_entries : 1) * sizeof(*idx->blocks));
	if (shrunk)
		idx->blocks = shrunk;
	qsort(idx->blocks, idx->block_count, sizeof(*idx->blocks), cmp_block);
	return 0;
}

int lb_chunk_index_new(const char *path, uint64_t limit, uint32_t chunk_size, uint32_t step,
		       struct lb_chunk_index **ret, struct lb_error *err)
{
	if (chunk_size < LB_CHUNK_SIZE_MIN || chunk_size > LB_CHUNK_SIZE_MAX ||
	    (chunk_size & (chunk_size - 1)))
		return lb_error_set(err, EINVAL, LB_E_USAGE,
				    "chunk size %u is not a power of two from 64 KiB to 16 MiB", chunk_size);
	if (step != chunk_size && step != LB_CHUNK_INDEX_BLOCK)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "step %u is neither the chunk size nor %u", step,
				    LB_CHUNK_INDEX_BLOCK);
	struct lb_chunk_index *idx = calloc(1, sizeof(*idx));
	if (!idx)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	idx->chunk_size = chunk_size;
	idx->step = step;
	idx->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (idx->fd < 0) {
		int e = errno;
		free(idx);
		return lb_error_set(err, e, LB_E_IO, "cannot open %s: %s", path, strerror(e));
	}
	int r = source_size(idx->fd, path, &idx->size, err);
	if (r >= 0 && limit && limit < idx->size)
		idx->size = limit;
	if (r >= 0) {
		(void)posix_fadvise(idx->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		r = step == chunk_size ? index_aligned(idx, path, err) : index_blocks(idx, path, err);
	}
	if (r < 0) {
		lb_chunk_index_free(idx);
		return r;
	}
	*ret = idx;
	return 0;
}

void lb_chunk_index_free(struct lb_chunk_index *idx)
{
	if (!idx)
		return;
	if (idx->fd >= 0)
		close(idx->fd);
	free(idx->chunks);
	free(idx->blocks);
	free(idx);
}

uint64_t lb_chunk_index_source_size(const struct lb_chunk_index *idx)
{
	return idx->size;
}

size_t lb_chunk_index_memory(const struct lb_chunk_index *idx)
{
	return idx->chunk_count * sizeof(*idx->chunks) + idx->block_count * sizeof(*idx->blocks);
}

/* A place in the source whose SHA-256 is to be compared with one wanted chunk's. */
struct candidate {
	uint64_t pos;
	uint32_t want;
	uint32_t length;
};

static int cmp_candidate(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->pos != y->pos)
		return (x->pos > y->pos) - (x->pos < y->pos);
	if (x->length != y->length)
		return (x->length > y->length) - (x->length < y->length);
	return (x->want > y->want) - (x->want < y->want);
}

/* The first entry with `key`, or block_count. */
static size_t lower_bound_key(const struct lb_chunk_index *idx, uint32_t key)
{
	size_t lo = 0, hi = idx->block_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (idx->blocks[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool range_has_block(const struct block_entry *e, size_t n, uint32_t block)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && e[lo].block == block;
}

/* The candidates of one want, own place first: at most 1 + LB_CHUNK_CANDIDATES_MAX. */
static size_t collect_candidates(const struct lb_chunk_index *idx, const struct lb_chunk_want *w, uint32_t i,
				 struct candidate *out)
{
	uint64_t own = (uint64_t)i * idx->chunk_size;
	size_t n = 0;
	bool fits_own = own + w->length <= idx->size;

	if (idx->step == idx->chunk_size || !w->has_anchor) {
		/* chunk-aligned: only a short last chunk comes here (the others are looked up by
		 * hash); a want without anchor has only its own place */
		if (fits_own)
			out[n++] = (struct candidate){.pos = own, .want = i, .length = w->length};
		return n;
	}

	size_t lo = lower_bound_key(idx, w->anchor_key), hi = lo;
	while (hi < idx->block_count && idx->blocks[hi].key == w->anchor_key)
		hi++;
	uint64_t own_anchor = (own + w->anchor_offset) / LB_CHUNK_INDEX_BLOCK;
	if (fits_own && own_anchor <= UINT32_MAX &&
	    range_has_block(idx->blocks + lo, hi - lo, (uint32_t)own_anchor))
		out[n++] = (struct candidate){.pos = own, .want = i, .length = w->length};
	size_t others = 0;
	for (size_t k = lo; k < hi && others < LB_CHUNK_CANDIDATES_MAX; k++) {
		uint64_t anchor = (uint64_t)idx->blocks[k].block * LB_CHUNK_INDEX_BLOCK;
		if (anchor < w->anchor_offset)
			continue;
		uint64_t pos = anchor - w->anchor_offset;
		if (pos == own || pos + w->length > idx->size)
			continue;
		out[n++] = (struct candidate){.pos = pos, .want = i, .length = w->length};
		others++;
	}
	return n;
}

/* Chunk-aligned: the wanted hash among the source's chunks of the same length, its own place
 * preferred. */
static uint64_t lookup_aligned(const struct lb_chunk_index *idx, const struct lb_chunk_want *w, uint32_t i)
{
	struct aligned_entry key = {.chunk = 0};
	memcpy(key.sha256, w->sha256, LB_SHA256_SIZE);
	size_t lo = 0, hi = idx->chunk_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_aligned(&idx->chunks[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t found = LB_CHUNK_NONE;
	for (; lo < idx->chunk_count && !memcmp(idx->chunks[lo].sha256, w->sha256, LB_SHA256_SIZE); lo++) {
		if (idx->chunks[lo].length != w->length)
			continue;
		if (idx->chunks[lo].chunk == i)
			return (uint64_t)i * idx->chunk_size;
		if (found == LB_CHUNK_NONE)
			found = (uint64_t)idx->chunks[lo].chunk * idx->chunk_size;
	}
	return found;
}

int lb_chunk_index_match(struct lb_chunk_index *idx, const struct lb_chunk_want *wants, uint32_t count,
			 uint64_t *ret_offsets, struct lb_chunk_match_stats *ret_stats, struct lb_error *err)
{
	struct lb_chunk_match_stats st = {0};
	_cleanup_free_ struct candidate *cands =
	    calloc((size_t)count * (1 + LB_CHUNK_CANDIDATES_MAX) + 1, sizeof(*cands));
	_cleanup_free_ uint8_t *buf = malloc(idx->chunk_size);
	if (!cands || !buf)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory matching %u chunks", count);

	size_t n = 0;
	for (uint32_t i = 0; i < count; i++) {
		const struct lb_chunk_want *w = &wants[i];
		ret_offsets[i] = LB_CHUNK_NONE;
		if (w->zero || w->length == 0 || w->length > idx->chunk_size)
			continue;
		if (idx->step == idx->chunk_size) {
			ret_offsets[i] = lookup_aligned(idx, w, i);
			if (ret_offsets[i] != LB_CHUNK_NONE || w->length == idx->chunk_size)
				continue;
		}
		n += collect_candidates(idx, w, i, cands + n);
	}

	/* in source order, each distinct place and length hashed once */
	qsort(cands, n, sizeof(*cands), cmp_candidate);
	uint8_t digest[LB_SHA256_SIZE];
	for (size_t k = 0; k < n; k++) {
		const struct candidate *c = &cands[k];
		if (k == 0 || c->pos != cands[k - 1].pos || c->length != cands[k - 1].length) {
			int r = lb_pread_full(idx->fd, buf, c->length, c->pos);
			if (r < 0)
				return lb_error_set(err, -r, LB_E_READ,
						    "cannot read the source at byte %" PRIu64 ": %s", c->pos,
						    strerror(-r));
			lb_sha256(buf, c->length, digest);
			st.candidates++;
			st.hashed_bytes += c->length;
		}
		if (memcmp(digest, wants[c->want].sha256, LB_SHA256_SIZE))
			continue;
		uint64_t own = (uint64_t)c->want * idx->chunk_size;
		if (ret_offsets[c->want] == LB_CHUNK_NONE || c->pos == own)
			ret_offsets[c->want] = c->pos;
	}

	for (uint32_t i = 0; i < count; i++) {
		if (wants[i].zero)
			st.zero++;
		else if (ret_offsets[i] == LB_CHUNK_NONE)
			st.missing++;
		else {
			if (ret_offsets[i] == (uint64_t)i * idx->chunk_size)
				st.in_place++;
			else
				st.moved++;
			st.reused_bytes += wants[i].length;
		}
	}
	if (ret_stats)
		*ret_stats = st;
	return 0;
}
