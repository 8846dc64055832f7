/* A streaming decoder for multipart/form-data (RFC 7578) request bodies, so that a plain HTML
 * form can upload a bundle without JavaScript. It presents the first part's content as an
 * lb_input: bytes flow through a fixed 64 KiB window, never the whole body, and the closing
 * delimiter is recognised even when it arrives split across reads. */
#pragma once

#include "error.h"
#include "input.h"

#include <stdbool.h>
#include <stdint.h>

#define LB_MULTIPART_WINDOW (64u << 10)
#define LB_MULTIPART_HEADERS_MAX (8u << 10)

struct lb_multipart {
	struct lb_input *source;
	char delimiter[80]; /* "\r\n--" + boundary */
	size_t delimiter_len;
	uint8_t window[LB_MULTIPART_WINDOW];
	size_t start, end; /* unread bytes are window[start..end) */
	bool source_ended;
	int state; /* private */
	struct lb_error err;
};

/* Reads the boundary from a Content-Type value; fails unless it is multipart/form-data with a
 * boundary of 1 to 70 characters. */
int lb_multipart_init(struct lb_multipart *mp, struct lb_input *source, const char *content_type,
		      struct lb_error *err);

/* An input yielding the first part's content. A body that ends before the closing delimiter
 * ends the input early (the installer then reports a truncated bundle); a malformed body gives
 * -EBADMSG, and mp->err says why. */
void lb_multipart_input(struct lb_multipart *mp, struct lb_input *ret);
