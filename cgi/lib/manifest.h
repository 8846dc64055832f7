/* The bundle manifest: the signed text that describes a bundle's images and every chunk of
 * them. This module owns its grammar, both ways: the strict parser that the device runs on
 * untrusted input and the formatter that the host tool uses. docs/bundle-format.md is the
 * specification; the caps below are part of it. */
#pragma once

#include "error.h"
#include "hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The format lifeboat-bundle writes, and the oldest one a device still reads. Format 2 adds each
 * chunk's anchor (below), which only delta installs use. */
#define LB_FORMAT_VERSION 2
#define LB_FORMAT_VERSION_MIN 1

#define LB_MANIFEST_SIZE_MAX (4u << 20)  /* bytes of manifest text */
#define LB_CHUNKS_MAX 65536u             /* chunks in one bundle, all images together */
#define LB_IMAGES_MAX 8u                 /* images in one bundle */
#define LB_CHUNK_SIZE_MIN (64u << 10)
#define LB_CHUNK_SIZE_MAX (16u << 20)
#define LB_CHUNK_SIZE_DEFAULT (1u << 20)
#define LB_TOKEN_MAX 64                  /* compatible, version, role, fstype */
#define LB_DESCRIPTION_MAX 256

struct lb_chunk {
	uint8_t sha256[LB_SHA256_SIZE]; /* of the uncompressed chunk */
	uint32_t compressed_size;       /* 0: an all-zero chunk that carries no payload */
	/* Format 2: where a device may look for this chunk in what it holds (chunk-index.h): the
	 * offset in the chunk of its first non-zero whole 4 KiB block and that block's weak key.
	 * Signed like the rest, but only a hint: the SHA-256 above decides. */
	bool has_anchor;
	uint32_t anchor_offset;
	uint32_t anchor_key;
};

struct lb_image {
	char role[LB_TOKEN_MAX + 1];
	char fstype[LB_TOKEN_MAX + 1];
	uint64_t size;
	uint8_t sha256[LB_SHA256_SIZE]; /* of the whole uncompressed image */
	uint32_t chunk_size;
	uint32_t chunk_count;
	struct lb_chunk *chunks;
	uint64_t payload_size; /* sum of the chunks' compressed sizes */
};

struct lb_manifest {
	unsigned format;
	char compatible[LB_TOKEN_MAX + 1];
	char version[LB_TOKEN_MAX + 1];
	char description[LB_DESCRIPTION_MAX + 1];
	uint64_t build_time; /* seconds since the epoch, UTC */
	char min_recovery_version[LB_TOKEN_MAX + 1];
	unsigned image_count;
	struct lb_image images[LB_IMAGES_MAX];
	uint64_t payload_size; /* all images */
};

/* Parses manifest text. On failure nothing needs freeing and `err` says which line is wrong. */
int lb_manifest_parse(const char *text, size_t size, struct lb_manifest *ret, struct lb_error *err);

/* Formats a manifest as text (heap, NUL-terminated). The result parses back to the same manifest. */
int lb_manifest_format(const struct lb_manifest *m, char **ret_text, size_t *ret_size);

void lb_manifest_free(struct lb_manifest *m);

/* The length of chunk `index` of an image: chunk_size, except for a shorter last chunk. */
uint32_t lb_image_chunk_length(const struct lb_image *img, uint32_t index);

/* True when `s` is a valid token (compatible, version, role, fstype): 1..LB_TOKEN_MAX characters
 * from [A-Za-z0-9._+:~-]. */
bool lb_token_valid(const char *s);
