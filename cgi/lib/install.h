/* The streaming installer: reads a bundle strictly front to back from any input, authenticates
 * the header before anything is written, then decompresses, hashes and writes chunks on worker
 * threads while the next ones arrive, and finally reads everything back. Memory use is bounded
 * by (threads + 2) chunk buffers, whatever the image size; nothing is staged in files. */
#pragma once

#include "error.h"
#include "image-check.h"
#include "input.h"
#include "progress.h"
#include "bootctl.h"
#include "delta-plan.h"
#include "session.h"
#include "signature.h"

#include <stdatomic.h>
#include <stdbool.h>

struct lb_target_spec {
	const char *role; /* image role in the manifest, e.g. "rootfs" */
	const char *path; /* block device or regular file */
};

struct lb_install_options {
	const struct lb_keyring *keyring;
	bool allow_unsigned;           /* development only: accept bundles without a signature */
	const char *compatible;        /* this device's board string; required unless dry_run */
	const char *recovery_version;  /* compared with min-recovery-version; NULL: this build's */
	const struct lb_target_spec *targets;
	unsigned target_count;
	bool dry_run;                  /* check everything, write nothing (lifeboat-bundle verify) */
	bool readback;                 /* read the written images back and check every chunk */
	unsigned threads;              /* 0: one per online CPU */
	lb_progress_fn progress;
	void *userdata;
	const atomic_bool *cancel;     /* set from outside to stop at the next chunk */
	/* The whole bundle's size as the transport announced it (0: not known). A header that
	 * says otherwise stops the install before anything is written: an input that ends where
	 * it announced would otherwise end inside the bundle, or wait for bytes that never come. */
	uint64_t announced_size;
	/* Boot control (NULL: none). The safety invariant lives here: `boot_slot` leaves the boot
	 * order before the first byte is written, and comes back first, with fresh attempts, only
	 * after every chunk was written, the read-back verified it, and every squashfs among the
	 * images was found whole (image-check.h). */
	const struct lb_boot *boot;
	const char *boot_slot;
	/* Called once the header is authenticated and every target checked, right before the first
	 * byte is written; an error here stops the install with nothing written. */
	int (*before_write)(const struct lb_manifest *m, void *userdata, struct lb_error *err);
	/* Resume sessions (session.h). In `session_dir` (NULL: none) the install keeps its session:
	 * recorded before the first write, moved on as chunks are written, and removed when the
	 * install ends in anything but a cut input (truncated, cancelled, a read error). A fresh
	 * install discards any older session before it reads a byte. */
	const char *session_dir;
	/* Continues the cut install of `resume` (NULL: a fresh install, which reads the header from
	 * the input). The header then comes from the session and goes through every check a fresh
	 * one does; the input begins at the frame of chunk resume->next_chunk. Earlier chunks were
	 * checked against their hashes before they were written, and the read-back covers them all
	 * again. */
	const struct lb_session *resume;
	/* A delta install (delta-plan.h; NULL: a whole bundle). The input carries the header and
	 * only the frames of the chunks the plan sends; the plan must be for this very manifest
	 * (else no-plan). Its copies are made first, each checked against the manifest before it is
	 * written (else plan-stale); then the sent chunks stream in as usual. Always read back.
	 * The install completes the plan's counts from the manifest (lb_delta_plan_check). */
	struct lb_delta_plan *plan;
};

struct lb_install_result {
	bool target_touched; /* writing began: the targets no longer hold their old images */
	bool read_back;      /* what was written was read back and checked (asked for, or a delta) */
	char compatible[LB_TOKEN_MAX + 1];
	char version[LB_TOKEN_MAX + 1];
	uint64_t bundle_size;
	uint64_t image_bytes;
	/* After the read-back, each written image that is a squashfs was checked as a file system
	 * (image-check.h); by image index, `image_count` of them. */
	unsigned image_count;
	struct lb_image_check images[LB_IMAGES_MAX];
	/* A failed install that can be resumed: its session was kept, and an upload of the rest of
	 * the same bundle from `resume_offset` (chunk `next_chunk`) continues it. */
	bool resumable;
	uint32_t next_chunk;
	uint64_t resume_offset;
};

/* Installs the bundle read from `in`. On failure `err` names the problem and `ret->target_touched`
 * tells whether the targets were left unchanged (a defect in the header) or invalid. */
int lb_install(struct lb_input *in, const struct lb_install_options *opt, struct lb_install_result *ret,
	       struct lb_error *err);

/* The delta plan for the bundle whose header `in` begins with (delta-plan.h): the header passes
 * every check an install makes before writing (signature, board, recovery version, targets),
 * then the targets are read to find what they hold. Nothing is written. `ret_header` is the
 * parsed header (lb_bundle_header_free). */
int lb_install_plan(struct lb_input *in, const struct lb_install_options *opt, struct lb_bundle_header *ret_header,
		    struct lb_delta_plan *ret, struct lb_error *err);
