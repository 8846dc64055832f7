/* Squashfs file systems, read with libsquashfs (squashfs-tools-ng) and never written: the super
 * block and its sanity checks, the SHA-256 of the file system's own bytes, a walk over every
 * directory entry and inode, and small files read by path. The bytes come from a file
 * descriptor (a partition, a written install target, an image file) or from memory (the fuzz
 * target); once the super block is checked, nothing past its bytes_used is read. Used by the
 * recovery's self-check (self-check.h) and by the installer's check of what it wrote
 * (image-check.h). */
#pragma once

#include "error.h"
#include "hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_SQUASHFS_SUPER_SIZE 96
/* mksquashfs pads its output with zeros to a multiple of this (unless -nopad): a file's
 * sha256sum covers the padding, bytes_used does not. */
#define LB_SQUASHFS_PADDING 4096

struct lb_squashfs;

struct lb_squashfs_info {
	uint64_t bytes_used; /* the file system's own length, without any padding after it */
	uint32_t block_size;
	uint32_t inode_count;
	uint32_t mtime;		 /* the creation time, epoch seconds */
	const char *compression; /* "zstd", "xz", "gzip", ... */
};

/* What a walk saw: every directory entry's inode was read once per entry. */
struct lb_squashfs_walk {
	uint64_t inodes; /* entries plus the root */
	uint64_t directories;
	uint64_t files;
	uint64_t symlinks;
	uint64_t others; /* devices, FIFOs, sockets */
};

/* The SHA-256 of the file system's bytes: exactly bytes_used of them, and the same followed by
 * the bytes up to the next multiple of LB_SQUASHFS_PADDING (what a padded image file holds). */
struct lb_squashfs_digests {
	uint8_t own[LB_SHA256_SIZE];
	uint8_t padded[LB_SHA256_SIZE];
	uint64_t padded_length; /* bytes_used rounded up; 0 when the source ends before that */
};

/* True when `data` starts with the squashfs magic "hsqs". */
bool lb_squashfs_magic(const void *data, size_t size);

/* Opens the squashfs at offset 0 of `fd`, of which `size` bytes may be read (the device or the
 * image; the descriptor stays the caller's). Checks the super block: magic, version 4.0, the
 * block size, a compressor this build reads, bytes_used within `size`, the tables in order
 * inside it. Failures: LB_E_FILESYSTEM_INVALID for what the bytes say, LB_E_READ for an I/O
 * error, LB_E_INTERNAL when out of memory. */
int lb_squashfs_open_fd(int fd, uint64_t size, struct lb_squashfs **ret, struct lb_error *err);

/* The same over `size` bytes at `data`, which must stay valid until the close. */
int lb_squashfs_open_memory(const void *data, size_t size, struct lb_squashfs **ret, struct lb_error *err);

void lb_squashfs_close(struct lb_squashfs *fs);

const struct lb_squashfs_info *lb_squashfs_info(const struct lb_squashfs *fs);

/* Reads the file system's bytes once, hashing them (struct lb_squashfs_digests). */
int lb_squashfs_hash(struct lb_squashfs *fs, struct lb_squashfs_digests *ret, struct lb_error *err);

/* Reads every directory listing and every inode the entries name, from the root down, with the
 * ID and fragment tables; checks names, inode numbers, owners, fragment indexes, that each
 * file's data lies inside the file system, and that no directory is reached twice (a loop).
 * File data is not read: that is what the hash and the installer's read-back are for. */
int lb_squashfs_walk(struct lb_squashfs *fs, struct lb_squashfs_walk *ret, struct lb_error *err);

/* Reads the regular file at absolute `path` (a symbolic link as its last component is
 * followed, up to 8 times) into a NUL-terminated heap buffer of at most `max` bytes. -ENOENT
 * when there is no such regular file and -EFBIG when it is larger, both without touching `err`;
 * any other failure means the file system is damaged and fills `err`. */
int lb_squashfs_read_file(struct lb_squashfs *fs, const char *path, size_t max, char **ret_data, size_t *ret_size,
			  struct lb_error *err);
