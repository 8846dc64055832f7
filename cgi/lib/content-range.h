/* The Content-Range request header of a resumed upload ("bytes FIRST-LAST/TOTAL", as
 * `curl --upload-file FILE -C OFFSET` sends it): a strict parser, since the header comes from
 * the network and decides where in the bundle the body begins. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lb_content_range {
	uint64_t first, last; /* inclusive byte positions of the body in the whole file */
	uint64_t total;	      /* the whole file's size */
};

/* Parses "bytes FIRST-LAST/TOTAL": decimal without sign or leading zeros, FIRST <= LAST < TOTAL,
 * nothing else around it. False for anything else (an unknown length as in "bytes *" then "/TOTAL", several
 * ranges, spaces). */
bool lb_content_range_parse(const char *text, size_t size, struct lb_content_range *ret);
