/* bench/delta-study: what other chunkings than the bundle format's fixed-size chunks would send
 * for an update from OLD to NEW (two images), as estimates for choosing the delta format
 * (docs/delta.md). Built and run by bench/run's part 5; not part of Lifeboat.
 *
 *   delta-study OLD NEW
 *
 * Prints one line per method, "METHOD sent=BYTES full=BYTES fraction=F": the zstd-compressed
 * bytes (level 3, one frame per chunk, as lifeboat-bundle compresses) of NEW's chunks that OLD
 * does not hold, against all of NEW's non-zero chunks compressed the same way.
 *  - cdc-64k: content-defined chunks as casync and zchunk cut them: a gear rolling hash (the
 *    one FastCDC uses) cuts where its low 16 bits are zero, 16 KiB minimum, 256 KiB maximum,
 *    so about 64 KiB on average; a chunk is reused when OLD has one with the same SHA-256.
 *  - block-4k: every 4 KiB block on its own (RAUC's block-hash-index granularity), the blocks
 *    to send compressed 16 at a time (64 KiB frames), so that the compression is comparable. */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define MIN_CHUNK (16u << 10)
#define MAX_CHUNK (256u << 10)
#define CUT_MASK 0xffffu
#define BLOCK 4096u

static uint64_t gear[256];

static void die(const char *what)
{
	fprintf(stderr, "delta-study: %s\n", what);
	exit(1);
}

static uint8_t *load(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open an image");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *d = malloc((size_t)n + 1);
	if (!d || fread(d, 1, (size_t)n, f) != (size_t)n)
		die("cannot read an image");
	fclose(f);
	*ret_size = (size_t)n;
	return d;
}

struct digest {
	uint8_t d[32];
};

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct digest));
}

static void sha256(const uint8_t *p, size_t n, struct digest *out)
{
	unsigned len = 32;
	EVP_Digest(p, n, out->d, &len, EVP_sha256(), NULL);
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static size_t next_cut(const uint8_t *p, size_t n)
{
	if (n <= MIN_CHUNK)
		return n;
	size_t end = n < MAX_CHUNK ? n : MAX_CHUNK;
	uint64_t h = 0;
	for (size_t i = MIN_CHUNK; i < end; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & CUT_MASK))
			return i + 1;
	}
	return end;
}

static size_t compressed(ZSTD_CCtx *cctx, void *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t r = ZSTD_compressCCtx(cctx, dst, cap, p, n, 3);
	if (ZSTD_isError(r))
		die("zstd failed");
	return r;
}

/* The sorted digests of an image's chunks (cdc: content-defined; else 4 KiB blocks). */
static struct digest *digests(const uint8_t *d, size_t size, bool cdc, size_t *ret_count)
{
	size_t cap = size / (cdc ? MIN_CHUNK : BLOCK) + 2, n = 0;
	struct digest *out = malloc(cap * sizeof(*out));
	for (size_t off = 0; off < size;) {
		size_t len = cdc ? next_cut(d + off, size - off) : (size - off < BLOCK ? size - off : BLOCK);
		if (!is_zero(d + off, len))
			sha256(d + off, len, &out[n++]);
		off += len;
	}
	qsort(out, n, sizeof(*out), cmp_digest);
	*ret_count = n;
	return out;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: delta-study OLD NEW");
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (int i = 0; i < 256; i++) { /* splitmix64: a fixed table */
		uint64_t z = (s += 0x9e3779b97f4a7c15u);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		gear[i] = z ^ (z >> 31);
	}
	size_t old_size, new_size;
	uint8_t *old = load(argv[1], &old_size), *new = load(argv[2], &new_size);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(MAX_CHUNK);
	uint8_t *dst = malloc(cap), *group = malloc(16 * BLOCK);

	for (int cdc = 1; cdc >= 0; cdc--) {
		size_t n_old;
		struct digest *have = digests(old, old_size, cdc, &n_old);
		uint64_t sent = 0, full = 0;
		size_t g_sent = 0, g_full = 0;
		uint8_t *g_full_buf = malloc(16 * BLOCK);
		for (size_t off = 0; off < new_size;) {
			size_t len = cdc ? next_cut(new + off, new_size - off)
					 : (new_size - off < BLOCK ? new_size - off : BLOCK);
			const uint8_t *p = new + off;
			off += len;
			if (is_zero(p, len))
				continue;
			struct digest dg;
			sha256(p, len, &dg);
			bool found = bsearch(&dg, have, n_old, sizeof(dg), cmp_digest) != NULL;
			if (cdc) {
				size_t c = compressed(cctx, dst, cap, p, len);
				full += c;
				sent += found ? 0 : c;
				continue;
			}
			/* blocks: compressed in groups of 16, the sent ones among themselves */
			memcpy(g_full_buf + g_full, p, len);
			if ((g_full += len) == 16 * BLOCK)
				full += compressed(cctx, dst, cap, g_full_buf, g_full), g_full = 0;
			if (!found) {
				memcpy(group + g_sent, p, len);
				if ((g_sent += len) == 16 * BLOCK)
					sent += compressed(cctx, dst, cap, group, g_sent), g_sent = 0;
			}
		}
		if (g_full)
			full += compressed(cctx, dst, cap, g_full_buf, g_full);
		if (g_sent)
			sent += compressed(cctx, dst, cap, group, g_sent);
		printf("%s sent=%llu full=%llu fraction=%.4f\n", cdc ? "cdc-64k" : "block-4k", (unsigned long long)sent,
		       (unsigned long long)full, full ? (double)sent / (double)full : 0);
		free(g_full_buf);
		free(have);
	}
	return 0;
}
