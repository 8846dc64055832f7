/* The delta plan: for one authenticated bundle and the targets it goes to, what becomes of each
 * chunk in a delta install (docs/delta.md). This module owns that decision, the order in which
 * reused chunks are copied within a target, the plan file that carries the decision from
 * POST /api/install-plan to the install that follows, and the bundle byte ranges a client sends.
 *
 * Each chunk is one of:
 *  - zero: written as zeros, nothing sent (as in any install);
 *  - in place: the target already holds exactly its bytes at its own offset: nothing is sent
 *    and nothing written;
 *  - copy: the target holds its bytes at another offset: copied there before anything is
 *    received;
 *  - send: its frame crosses the tether.
 *
 * Main is both the source of the copies and their destination, so a copy must read its source
 * before another copy overwrites it: copy c goes before copy d whenever c's source range meets
 * d's chunk. That makes a graph with at most two edges per chunk, ordered topologically; a cycle
 * (A moves to B's place and B to A's) is broken by sending the lowest-numbered chunk of it
 * instead. Received and zero chunks are written after every copy, so they never spoil a source.
 *
 * The plan is only an opinion on where bytes are: the installer checks every copied chunk
 * against the signed manifest before writing it (a stale plan fails, it never writes a wrong
 * byte), and the read-back checks everything again. After a cut, a new plan finds the chunks
 * already written in place: that is how a delta install resumes. */
#pragma once

#include "bundle.h"
#include "error.h"
#include "hash.h"

#include <stdint.h>
#include <stdio.h>

#define LB_PLAN_FILE "plan"

enum lb_plan_kind {
	LB_PLAN_SEND,
	LB_PLAN_ZERO,
	LB_PLAN_IN_PLACE,
	LB_PLAN_COPY,
};

struct lb_delta_plan {
	uint8_t manifest_sha256[LB_SHA256_SIZE];
	uint32_t chunk_count; /* all images together, by seq as the payload orders them */
	uint8_t *kind;	      /* enum lb_plan_kind, by seq */
	uint64_t *source;     /* for LB_PLAN_COPY: the byte offset in the chunk's own target */
	uint32_t *copy_order; /* the seqs of the copies, in the order they must be made */
	uint32_t copy_count;
	/* What the plan saves, for the client and the progress. */
	uint32_t send, zero, in_place, moved, cycles_broken;
	uint64_t send_bytes;   /* the delta body: header + the frames of the send chunks */
	uint64_t reused_bytes; /* image bytes of in-place and copied chunks */
	uint64_t copy_bytes;   /* image bytes of copied chunks */
	uint64_t source_bytes; /* bytes of the targets read to find them */
	double seconds;
};

/* Plans the install of the bundle of `h` (authenticated and parsed) onto `target_paths`, one
 * per image in manifest order, by reading what they hold. */
int lb_delta_plan_make(const struct lb_bundle_header *h, const char *const *target_paths, struct lb_delta_plan *ret,
		       struct lb_error *err);

/* Orders the copies of a plan whose kind[] and source[] are set (and counts what it sends);
 * part of lb_delta_plan_make, on its own for tests. */
int lb_delta_plan_order(const struct lb_manifest *m, uint64_t header_size, struct lb_delta_plan *p);

/* The plan file in `dir` (the state directory, a tmpfs): written whole or not at all. */
int lb_delta_plan_save(const char *dir, const struct lb_delta_plan *p);
/* -ENOENT when there is none, -EBADMSG when it is not a plan file. */
int lb_delta_plan_load(const char *dir, struct lb_delta_plan *ret);
/* Whether a loaded plan is for the bundle of `h` (authenticated and parsed): -ESRCH when it is
 * for another, -EBADMSG when it contradicts the manifest. Counts what it sends. */
int lb_delta_plan_check(struct lb_delta_plan *p, const struct lb_bundle_header *h);
void lb_delta_plan_discard(const char *dir);

void lb_delta_plan_free(struct lb_delta_plan *p);

/* The bundle byte ranges that make the delta body, [offset, length], in order, adjacent ones
 * merged; the first begins at 0 and holds the header. Heap (`*ret`, free()); the count, 0 when
 * out of memory. */
size_t lb_delta_plan_ranges(const struct lb_delta_plan *p, const struct lb_bundle_header *h, uint64_t (**ret)[2]);

/* The plan as a JSON object (POST /api/install-plan): the counts, and "ranges": the
 * [offset, length] pairs of the bundle that make the delta body, in order, adjacent ones merged. */
void lb_delta_plan_json(const struct lb_delta_plan *p, const struct lb_bundle_header *h, FILE *f);
