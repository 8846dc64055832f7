/* Plain file-descriptor I/O that finishes the job: loops over short reads and writes and EINTR. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads until `size` bytes arrived or the input ended. Returns the number of bytes read
 * (less than `size` only at end of input) or a negative errno. */
ssize_t lb_read_full(int fd, void *buf, size_t size);

/* Writes all of `buf`. Returns 0 or a negative errno (-EIO if the device accepted nothing). */
int lb_write_full(int fd, const void *buf, size_t size);
int lb_pwrite_full(int fd, const void *buf, size_t size, uint64_t offset);

/* Reads exactly `size` bytes at `offset`; a short read is -EIO. */
int lb_pread_full(int fd, void *buf, size_t size, uint64_t offset);

/* Grows the buffer of the pipe FD to 1 MiB, the most an unprivileged process may ask for by
 * default (fs.pipe-max-size): a bundle arriving through a pipe then moves up to 1 MiB per
 * wakeup of its reader instead of the 64 KiB of a pipe's default buffer, which on two cores
 * cut an upload's time through lighttpd by a fifth (docs/web-appliance.md "Speed"). Anything
 * but a pipe, or a refusal, is left as it is: only speed depends on it. */
void lb_pipe_widen(int fd);

/* Writes a whole file atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. Readers see the old content or the new one, never a mix. */
int lb_write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* Reads a whole small file (at most `max` bytes) into a NUL-terminated heap buffer. */
int lb_read_file(const char *path, size_t max, char **ret_data, size_t *ret_size);

/* The next "key=value" line of a text read with lb_read_file, split in place: `*cursor` starts
 * at the text and moves on. Lines without '=' are skipped. False at the end of the text. The
 * state files (state.c, self-check.c, boot-reason.c) are read with it. */
bool lb_next_key_value(char **cursor, char **ret_key, char **ret_value);
