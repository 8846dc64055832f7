/* Finding the chunks of a new image in what a device already holds (the image on main now, "the
 * source"), so that only the other chunks need to cross the tether: the matching that delta
 * updates rest on (docs/delta.md). This module owns the index of the source, the weak block key
 * that narrows the search, and the rule that decides a match: a chunk is reused only where the
 * SHA-256 of the source's bytes is the one the signed manifest lists. Nothing weaker ever
 * decides; the weak key only chooses where to compute that SHA-256.
 *
 * Two strategies, by the step at which a chunk may start in the source:
 *
 *  - step = chunk size (chunk-aligned): the SHA-256 of every aligned chunk of the source, sorted,
 *    and each manifest chunk looked up in it. Needs nothing but the manifest; costs one SHA-256
 *    pass over the source and 36 bytes per source chunk. It finds data that stayed in place or
 *    moved by whole chunks, which in an ext4 image rebuilt with a few more files is little: the
 *    allocator moves files by whole 4 KiB blocks, not by chunks.
 *
 *  - step = 4096 (every file-system block): a chunk may start at any 4 KiB block of the source.
 *    SHA-256 cannot be rolled, and computing it over a whole chunk at every block would cost
 *    (chunk size / 4 KiB) passes over the source, so the search is anchored, as rsync anchors
 *    on a weak checksum and RAUC's block-hash-index on per-block hashes: the source is indexed
 *    by a cheap 32-bit key of each non-zero 4 KiB block (lb_block_key: multiply-xorshift over
 *    64-bit words, memory speed), sorted by key, 8 bytes per block (2 MiB per GiB of source).
 *    Each wanted chunk comes with an anchor: the offset and key of its first non-zero 4 KiB
 *    block, computed by whoever has the chunk's bytes (the client that holds the bundle; the
 *    device cannot, since the manifest lists only whole-chunk hashes). Every source block with
 *    that key gives one candidate start (block - anchor offset), and the SHA-256 of the source's
 *    bytes there decides. The anchor is only a hint: a wrong or forged one costs a miss, never a
 *    wrong chunk. A zero block is never an anchor (images are full of them), and at most
 *    LB_CHUNK_CANDIDATES_MAX candidates are tried per chunk (a block repeated everywhere would
 *    otherwise cost a SHA-256 per repetition), its own place first. Work: one key pass over the
 *    source, then SHA-256 over about the matched bytes; candidates are verified in source order,
 *    each distinct (place, length) hashed once.
 *
 * Either way a chunk found at its own offset is preferred to a copy found elsewhere: it needs
 * no write at all. */
#pragma once

#include "error.h"
#include "hash.h"
#include "manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_CHUNK_INDEX_BLOCK 4096u /* the file-system block: the finest step, and the anchor's size */
#define LB_CHUNK_NONE UINT64_MAX   /* a chunk the source does not hold */
#define LB_CHUNK_CANDIDATES_MAX 4u /* source places tried per chunk, besides its own place */

/* One chunk of the new image, as the matcher needs it. The chunks of an image are passed in
 * order: chunk i starts at i * chunk size in the new image. */
struct lb_chunk_want {
	uint8_t sha256[LB_SHA256_SIZE]; /* from the signed manifest: what decides */
	uint32_t length;		/* chunk size, or less for the image's last chunk */
	bool zero;			/* all zeros: nothing to find, the installer zeroes it */
	bool has_anchor;		/* false: only the chunk's own place is tried */
	uint32_t anchor_offset;		/* of its first non-zero whole 4 KiB block, from the chunk's start */
	uint32_t anchor_key;		/* lb_block_key of that block */
};

/* The weak key of one 4 KiB block (LB_CHUNK_INDEX_BLOCK bytes), the same on every machine
 * (little-endian words). Not a hash to trust: only a filter in front of SHA-256. */
uint32_t lb_block_key(const void *block);

/* A chunk's anchor: the offset of its first non-zero whole 4 KiB block and that block's key.
 * False when it has none (all zeros, or non-zero bytes only in a last partial block). What
 * lifeboat-bundle writes into a format-2 manifest. */
bool lb_chunk_anchor(const void *data, uint32_t length, uint32_t *ret_offset, uint32_t *ret_key);

/* Fills a want from the chunk's bytes: its SHA-256, length, whether it is all zeros and its
 * anchor. The client's side of the 4 KiB-step search, which holds the chunk's bytes. */
void lb_chunk_want_from_data(const void *data, uint32_t length, struct lb_chunk_want *ret);

/* Fills a want from chunk `index` of a parsed manifest: the device's side, which has no bytes
 * of the chunk, only its signed hash and (format 2) its anchor. */
void lb_chunk_want_from_manifest(const struct lb_image *img, uint32_t index, struct lb_chunk_want *ret);

struct lb_chunk_index;

/* Indexes the first `limit` bytes (0: all) of the source at `path` (an image file or a block
 * device, read-only) for chunks of
 * `chunk_size` bytes (a power of two, LB_CHUNK_SIZE_MIN to LB_CHUNK_SIZE_MAX) starting every
 * `step` bytes: `step` is `chunk_size` or LB_CHUNK_INDEX_BLOCK. Reads the whole source once. */
int lb_chunk_index_new(const char *path, uint64_t limit, uint32_t chunk_size, uint32_t step,
		       struct lb_chunk_index **ret, struct lb_error *err);

void lb_chunk_index_free(struct lb_chunk_index *idx);

/* The source's size in bytes, and the memory the index holds (its arrays). */
uint64_t lb_chunk_index_source_size(const struct lb_chunk_index *idx);
size_t lb_chunk_index_memory(const struct lb_chunk_index *idx);

struct lb_chunk_match_stats {
	uint32_t zero;	       /* zero chunks: never sent, never looked for */
	uint32_t in_place;     /* found at their own offset */
	uint32_t moved;	       /* found at another offset of the source */
	uint32_t missing;      /* to be sent */
	uint64_t reused_bytes; /* uncompressed bytes of the in-place and moved chunks */
	uint64_t candidates;   /* source places whose SHA-256 was computed */
	uint64_t hashed_bytes; /* bytes those SHA-256 covered */
};

/* For each of `count` chunks of one new image, the source offset that holds exactly its bytes
 * (its own offset i * chunk size when that does), or LB_CHUNK_NONE; zero chunks get
 * LB_CHUNK_NONE too. `ret_stats` may be NULL. Reads the source again where candidates are. */
int lb_chunk_index_match(struct lb_chunk_index *idx, const struct lb_chunk_want *wants, uint32_t count,
			 uint64_t *ret_offsets, struct lb_chunk_match_stats *ret_stats, struct lb_error *err);
