/* The byte source an installer reads a bundle from. A file descriptor is the common case; the
 * CGI's multipart decoder and the fuzzers supply their own read function. Reading is strictly
 * forward: nothing is ever sought back, so a pipe or socket works as well as a file. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lb_input {
	/* Returns bytes read (0 at end of input) or a negative errno. */
	ssize_t (*read)(void *ctx, void *buf, size_t size);
	void *ctx;
	uint64_t consumed; /* bytes handed out so far: the position in the bundle */
};

/* An input that reads from `*fd` (the pointer must stay valid while the input is used). */
void lb_input_init_fd(struct lb_input *in, int *fd);

/* Bytes already in memory, read through an input (the header kept by a resume session). */
struct lb_input_buffer {
	const void *data;
	size_t size, pos;
};

/* An input over `*b` (which must stay valid while the input is used). */
void lb_input_init_buffer(struct lb_input *in, struct lb_input_buffer *b);

/* Bytes in memory, then another input: a header read (and checked) before the install began,
 * handed to the installer again in front of the rest of the stream. */
struct lb_input_prefixed {
	struct lb_input_buffer prefix;
	struct lb_input *rest;
};

/* An input over `*p` (which must stay valid while the input is used). */
void lb_input_init_prefixed(struct lb_input *in, struct lb_input_prefixed *p);

/* Reads until `size` bytes arrived or the input ended; returns the count or a negative errno. */
ssize_t lb_input_read_full(struct lb_input *in, void *buf, size_t size);
