/* The resume session: what an install that was cut leaves behind, so that the next upload of
 * the same bundle continues at the first chunk not yet written instead of starting over. Two
 * files in the state directory (a tmpfs on the device: a session lives until the recovery
 * reboots, and a power cut loses it together with the page cache it relies on):
 * "session.header", the bundle's header exactly as received (preamble, manifest, signature
 * block), and "session", a few key=value lines that name the bundle by the SHA-256 of its
 * signed manifest and say where to resume. Only the holder of the install lock writes them. */
#pragma once

#include "bundle.h"
#include "error.h"
#include "hash.h"
#include "manifest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LB_SESSION_FILE "session"
#define LB_SESSION_HEADER_FILE "session.header"

struct lb_session {
	uint8_t manifest_sha256[LB_SHA256_SIZE];
	uint64_t bundle_size;
	uint64_t header_size;
	uint32_t chunk_count;	/* all images together */
	uint32_t next_chunk;	/* the first chunk (across all images) not known to be written */
	uint64_t resume_offset; /* the bundle byte where next_chunk's frame begins */
	char version[LB_TOKEN_MAX + 1];
	char compatible[LB_TOKEN_MAX + 1];
	int64_t updated; /* epoch seconds of the last checkpoint */
	uint8_t *header; /* header_size bytes; NULL until loaded or begun */
};

/* The number of chunks of all images. */
uint32_t lb_manifest_chunk_count(const struct lb_manifest *m);

/* The bundle byte where chunk `chunk` (counted across all images, from 0) begins: the header,
 * then the frames of every earlier chunk that is not a zero chunk. The chunk count gives the
 * bundle's size. */
uint64_t lb_bundle_chunk_offset(const struct lb_bundle_header *h, uint32_t chunk);

/* The bytes of an authenticated, parsed header as they were received: preamble, manifest text,
 * signature block. Heap; `*ret_size` is h->header_size. */
int lb_bundle_header_bytes(const struct lb_bundle_header *h, uint8_t **ret, size_t *ret_size);

/* Records a new session for the bundle of `h`, resuming at `next_chunk`; replaces any other.
 * `ret` owns a copy of the header bytes afterwards (lb_session_free). */
int lb_session_begin(const char *dir, const struct lb_bundle_header *h, uint32_t next_chunk,
		     struct lb_session *ret);

/* Moves the resume point of a begun session to `next_chunk` (the key file only). */
int lb_session_advance(const char *dir, struct lb_session *s, const struct lb_bundle_header *h,
		       uint32_t next_chunk);

/* Loads the session: -ENOENT when there is none. A session whose two files disagree (the header
 * file does not hash to the recorded manifest, or the sizes do not add up) is -EBADMSG. */
int lb_session_load(const char *dir, struct lb_session *ret, struct lb_error *err);

/* Removes the session, if any. */
void lb_session_discard(const char *dir);

void lb_session_free(struct lb_session *s);

/* True when `bytes` begin with exactly the session's header (a client offering the bundle it
 * holds: same preamble, same signed manifest, same signature). */
bool lb_session_matches(const struct lb_session *s, const uint8_t *bytes, size_t size);

/* The session as a JSON object (GET /api/session): manifest_sha256, bundle_size, header_size,
 * resume_offset, next_chunk, chunks, percent, version, compatible, updated, active. */
void lb_session_json(const struct lb_session *s, bool active, FILE *f);
