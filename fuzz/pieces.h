/* For fuzz targets: an lb_input that hands out a buffer in pieces of pseudo-random size (1 to
 * `max` bytes), as a network delivers a stream, seeded from the input itself so that every run of
 * the same input is the same. */
#pragma once

#include "lib/input.h"

#include <string.h>

struct pieces {
	const uint8_t *data;
	size_t size, pos;
	unsigned state;
	size_t max;
};

static inline ssize_t pieces_read(void *ctx, void *buf, size_t size)
{
	struct pieces *p = ctx;
	p->state = p->state * 1103515245u + 12345u;
	size_t n = 1 + (p->state >> 16) % p->max;
	if (n > size)
		n = size;
	if (n > p->size - p->pos)
		n = p->size - p->pos;
	memcpy(buf, p->data + p->pos, n);
	p->pos += n;
	return (ssize_t)n;
}
