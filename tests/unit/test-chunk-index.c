/* The chunk index: finding a new image's chunks in a source file, chunk-aligned and at every
 * 4 KiB block, and never reusing a place whose SHA-256 is not the wanted one. */
#include "lib/chunk-index.h"
#include "lib/io.h"
#include "lib/macro.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>

#define CS (64u << 10) /* the smallest chunk size: 16 blocks */
#define BLK LB_CHUNK_INDEX_BLOCK

static uint64_t rng_state = 0x853c49e6748fea9bu;

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		p[i] = (uint8_t)rng_state;
	}
}

static bool write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	int r = lb_write_full(fd, data, size);
	close(fd);
	return r == 0;
}

/* The wants of an image in memory, as a client holding its bytes computes them. */
static struct lb_chunk_want *wants_of(const uint8_t *image, uint64_t size, uint32_t *ret_count)
{
	uint32_t count = (uint32_t)((size + CS - 1) / CS);
	struct lb_chunk_want *w = calloc(count, sizeof(*w));
	for (uint32_t i = 0; i < count; i++) {
		uint64_t off = (uint64_t)i * CS;
		uint32_t len = size - off < CS ? (uint32_t)(size - off) : CS;
		lb_chunk_want_from_data(image + off, len, &w[i]);
	}
	*ret_count = count;
	return w;
}

/* Indexes `source` (written to a file) at `step` and matches the wants of `image`. */
static int match(const uint8_t *source, size_t source_size, const uint8_t *image, size_t image_size,
		 uint32_t step, uint64_t *offsets, struct lb_chunk_match_stats *st)
{
	if (!write_file(unit_path("source"), source, source_size))
		return -EIO;
	struct lb_error err = {0};
	struct lb_chunk_index *idx;
	int r = lb_chunk_index_new(unit_path("source"), 0, CS, step, &idx, &err);
	if (r < 0)
		return r;
	uint32_t count;
	_cleanup_free_ struct lb_chunk_want *w = wants_of(image, image_size, &count);
	r = lb_chunk_index_match(idx, w, count, offsets, st, &err);
	lb_chunk_index_free(idx);
	return r;
}

static void test_key(void)
{
	static uint8_t a[BLK], b[BLK];
	for (size_t i = 0; i < BLK; i++)
		a[i] = b[i] = (uint8_t)(i * 7 + 1);
	CHECK(lb_block_key(a) == lb_block_key(b));
	b[BLK - 1] ^= 1;
	CHECK(lb_block_key(a) != lb_block_key(b));
	/* pinned: the key is computed by the client and by the device, which may be different machines */
	CHECK(lb_block_key(a) == 0x615b063eu);
}

static void test_aligned_in_place(void)
{
	/* three whole chunks and a short last one of 20 KiB (not a whole number of blocks) */
	size_t size = 3 * CS + 20000;
	_cleanup_free_ uint8_t *img = malloc(size);
	fill_random(img, size);
	uint64_t off[4];
	struct lb_chunk_match_stats st;
	CHECK(match(img, size, img, size, CS, off, &st) == 0);
	for (uint32_t i = 0; i < 4; i++)
		CHECK(off[i] == (uint64_t)i * CS);
	CHECK(st.in_place == 4 && st.moved == 0 && st.missing == 0 && st.reused_bytes == size);
	CHECK(match(img, size, img, size, BLK, off, &st) == 0);
	for (uint32_t i = 0; i < 4; i++)
		CHECK(off[i] == (uint64_t)i * CS);
	CHECK(st.in_place == 4 && st.missing == 0);
}

static void test_aligned_moved(void)
{
	size_t size = 4 * CS;
	_cleanup_free_ uint8_t *img = malloc(size), *src = malloc(size);
	fill_random(img, size);
	/* the source holds the chunks in the order 2 3 0 1 */
	memcpy(src, img + 2 * CS, 2 * CS);
	memcpy(src + 2 * CS, img, 2 * CS);
	uint64_t off[4];
	struct lb_chunk_match_stats st;
	CHECK(match(src, size, img, size, CS, off, &st) == 0);
	CHECK(off[0] == 2 * CS && off[1] == 3 * CS && off[2] == 0 && off[3] == CS);
	CHECK(st.moved == 4 && st.in_place == 0);
}

static void test_block_shifted(void)
{
	/* the image's data three blocks further on in the source, as ext4 moves files by blocks */
	size_t size = 4 * CS + 3 * BLK, shift = 3 * BLK;
	_cleanup_free_ uint8_t *img = malloc(size), *src = malloc(size + shift);
	fill_random(img, size);
	fill_random(src, shift);
	memcpy(src + shift, img, size);
	uint64_t off[5];
	struct lb_chunk_match_stats st;
	CHECK(match(src, size + shift, img, size, CS, off, &st) == 0);
	CHECK(st.in_place == 0 && st.moved == 0 && st.missing == 5);
	CHECK(match(src, size + shift, img, size, BLK, off, &st) == 0);
	for (uint32_t i = 0; i < 5; i++)
		CHECK(off[i] == (uint64_t)i * CS + shift);
	CHECK(st.moved == 5 && st.missing == 0 && st.reused_bytes == size);
	/* one SHA-256 per chunk: the weak key pointed at the right place only */
	CHECK(st.candidates == 5);
}

static void test_zero_chunks(void)
{
	/* chunk 1 all zeros; chunk 2 starts with two zero blocks, so its anchor is its third */
	size_t size = 3 * CS;
	_cleanup_free_ uint8_t *img = calloc(1, size), *src = calloc(1, size + BLK);
	fill_random(img, CS);
	fill_random(img + 2 * CS + 2 * BLK, CS - 2 * BLK);
	memcpy(src + BLK, img, size);
	uint32_t count;
	_cleanup_free_ struct lb_chunk_want *w = wants_of(img, size, &count);
	CHECK(w[1].zero && !w[1].has_anchor);
	CHECK(!w[2].zero && w[2].has_anchor && w[2].anchor_offset == 2 * BLK);
	uint64_t off[3];
	struct lb_chunk_match_stats st;
	CHECK(match(src, size + BLK, img, size, BLK, off, &st) == 0);
	CHECK(off[0] == BLK && off[1] == LB_CHUNK_NONE && off[2] == 2 * CS + BLK);
	CHECK(st.zero == 1 && st.moved == 2 && st.missing == 0);
	/* zero blocks are not in the index: 16 + 14 non-zero blocks at 8 bytes each */
	struct lb_error err = {0};
	struct lb_chunk_index *idx;
	CHECK(lb_chunk_index_new(unit_path("source"), 0, CS, BLK, &idx, &err) == 0);
	CHECK(lb_chunk_index_memory(idx) == 30 * 8);
	lb_chunk_index_free(idx);
}

static void test_weak_collision(void)
{
	/* the source holds chunk 0 with one byte changed in its last block: the anchor (its first
	 * block) is found, the SHA-256 differs, and the chunk must be sent */
	size_t size = 2 * CS;
	_cleanup_free_ uint8_t *img = malloc(size), *src = malloc(size + BLK);
	fill_random(img, size);
	fill_random(src, BLK);
	memcpy(src + BLK, img, size);
	src[BLK + CS - 1] ^= 0x40;
	uint64_t off[2];
	struct lb_chunk_match_stats st;
	CHECK(match(src, size + BLK, img, size, BLK, off, &st) == 0);
	CHECK(off[0] == LB_CHUNK_NONE && off[1] == CS + BLK);
	CHECK(st.missing == 1 && st.moved == 1 && st.candidates == 2);

	/* a forged want: right anchor, wrong SHA-256. The weak key is a hint, never the decision */
	uint32_t count;
	_cleanup_free_ struct lb_chunk_want *w = wants_of(img, size, &count);
	w[1].sha256[0] ^= 1;
	struct lb_error err = {0};
	struct lb_chunk_index *idx;
	CHECK(lb_chunk_index_new(unit_path("source"), 0, CS, BLK, &idx, &err) == 0);
	int r = lb_chunk_index_match(idx, w, count, off, &st, &err);
	lb_chunk_index_free(idx);
	CHECK(r == 0);
	CHECK(off[1] == LB_CHUNK_NONE && st.candidates >= 1);
}

static void test_last_short(void)
{
	/* a last chunk of 5 blocks and 100 bytes; the source is the image shifted by one block,
	 * then more data: the short chunk is found by its anchor at the 4 KiB step, and in place
	 * by the chunk-aligned step although the source's chunk there is longer */
	size_t size = 2 * CS + 5 * BLK + 100;
	_cleanup_free_ uint8_t *img = malloc(size), *src = malloc(size + CS);
	fill_random(img, size);
	fill_random(src, BLK);
	memcpy(src + BLK, img, size);
	fill_random(src + BLK + size, CS - BLK);
	uint64_t off[3];
	struct lb_chunk_match_stats st;
	CHECK(match(src, size + CS, img, size, BLK, off, &st) == 0);
	CHECK(off[2] == 2 * CS + BLK && st.moved == 3);
	memcpy(src, img, size);
	CHECK(match(src, size + CS, img, size, CS, off, &st) == 0);
	CHECK(off[0] == 0 && off[1] == CS && off[2] == 2 * CS && st.in_place == 3);
}

static void test_source_shorter(void)
{
	/* the source ends in the middle of chunk 1: chunk 0 is there, chunk 1 only half, chunk 2 not */
	size_t size = 3 * CS, short_size = CS + CS / 2;
	_cleanup_free_ uint8_t *img = malloc(size);
	fill_random(img, size);
	uint64_t off[3];
	struct lb_chunk_match_stats st;
	for (int s = 0; s < 2; s++) {
		CHECK(match(img, short_size, img, size, s ? BLK : CS, off, &st) == 0);
		CHECK(off[0] == 0 && off[1] == LB_CHUNK_NONE && off[2] == LB_CHUNK_NONE);
		CHECK(st.in_place == 1 && st.missing == 2);
	}
	/* an empty source */
	CHECK(match(img, 0, img, size, BLK, off, &st) == 0);
	CHECK(st.missing == 3);
}

static void test_bad_arguments(void)
{
	struct lb_error err = {0};
	struct lb_chunk_index *idx = NULL;
	CHECK(write_file(unit_path("source"), "x", 1));
	CHECK(lb_chunk_index_new(unit_path("source"), 0, 100000, 100000, &idx, &err) < 0);
	CHECK(err.code == LB_E_USAGE && strstr(err.message, "power of two"));
	err = (struct lb_error){0};
	CHECK(lb_chunk_index_new(unit_path("source"), 0, CS, 8192, &idx, &err) < 0);
	CHECK(err.code == LB_E_USAGE && strstr(err.message, "step"));
	err = (struct lb_error){0};
	CHECK(lb_chunk_index_new(unit_path("missing"), 0, CS, CS, &idx, &err) < 0);
	CHECK(err.code == LB_E_IO && strstr(err.message, "missing"));
	err = (struct lb_error){0};
	CHECK(lb_chunk_index_new(unit_dir, 0, CS, CS, &idx, &err) < 0);
	CHECK(err.code == LB_E_USAGE && strstr(err.message, "neither an image file nor a block device"));
	CHECK(idx == NULL);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/chunk-index/key", test_key},
	    {"/chunk-index/aligned/in-place", test_aligned_in_place},
	    {"/chunk-index/aligned/moved", test_aligned_moved},
	    {"/chunk-index/block/shifted", test_block_shifted},
	    {"/chunk-index/zero-chunks", test_zero_chunks},
	    {"/chunk-index/weak-collision-not-matched", test_weak_collision},
	    {"/chunk-index/last-short-chunk", test_last_short},
	    {"/chunk-index/source-shorter", test_source_shorter},
	    {"/chunk-index/bad-arguments", test_bad_arguments},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
