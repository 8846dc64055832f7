/* Where an image goes: a block device (a partition of the card) or a regular file (tests, and
 * file-backed targets). This module owns the safety checks made before a target is opened for
 * writing, and the I/O on it: direct (page-cache-bypassing) writes where the device allows
 * them, zeroing that is guaranteed to read back as zeros, and the read-back. */
#pragma once

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct lb_target {
	char path[4096];
	bool is_block;
	uint64_t capacity;     /* bytes */
	unsigned direct_align; /* 0: no O_DIRECT here; else the alignment direct I/O needs */
	int fd;                /* O_DIRECT when direct_align != 0 */
	int fd_buffered;       /* for pieces that are not aligned */
};

/* Checks that `path` is a block device or regular file, not mounted, not the running system's
 * own device, and writable; then opens it (block devices exclusively, so nothing can mount it
 * while the install runs). Nothing is written. */
int lb_target_open(struct lb_target *t, const char *path, struct lb_error *err);

/* Checks the same things and the capacity, without opening for writing: for `verify` and for
 * refusing a bundle before its payload is read. */
int lb_target_check(const char *path, uint64_t need, struct lb_error *err);

/* Writes `size` bytes at `offset`. `buf` must be aligned to 4096 for the direct path. */
int lb_target_write(struct lb_target *t, const void *buf, size_t size, uint64_t offset);

/* Makes [offset, offset+size) read back as zeros: BLKZEROOUT on a block device (the kernel
 * writes zeros or uses the device's write-zeroes, which guarantees them), a punched hole in a
 * regular file, or plain zero writes where neither works. */
int lb_target_zero(struct lb_target *t, const void *zeros, size_t size, uint64_t offset);

/* Flushes everything written to stable storage and drops it from the page cache, so that a
 * following read-back reads the medium. */
int lb_target_sync(struct lb_target *t);

/* Reads for verification, bypassing the page cache where the device allows it. `buf` must be
 * aligned to 4096 and have room for `size` rounded up to the alignment. */
int lb_target_read(struct lb_target *t, void *buf, size_t size, uint64_t offset);

void lb_target_close(struct lb_target *t);
