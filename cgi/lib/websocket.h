/* The WebSocket protocol (RFC 6455) as a CGI behind lighttpd's `cgi.upgrade` speaks it: the
 * handshake's Sec-WebSocket-Accept, a streaming reader of the client's frames that hands out the
 * payload of binary messages as one byte stream of a declared size (an upload, like a body of
 * Content-Length bytes), and the server's unmasked frames. The reader never holds a whole frame:
 * payload goes straight into the caller's buffer, so a 1 GiB frame streams through 64 KiB; only
 * a control frame (at most 125 bytes) is kept. It never reads past the frame that completes the
 * declared size. */
#pragma once

#include "error.h"
#include "input.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LB_WS_ACCEPT_SIZE 29 /* 28 base64 characters and the NUL */
#define LB_WS_HEADER_MAX 10  /* a server frame's header: 2 bytes and a 64-bit length, no mask */
#define LB_WS_CONTROL_MAX 125

enum {
	LB_WS_CONTINUATION = 0,
	LB_WS_TEXT = 1,
	LB_WS_BINARY = 2,
	LB_WS_CLOSE = 8,
	LB_WS_PING = 9,
	LB_WS_PONG = 10,
};

/* Close codes (RFC 6455 7.4.1) a server sends. */
enum {
	LB_WS_CLOSE_NORMAL = 1000,
	LB_WS_CLOSE_GOING_AWAY = 1001,
	LB_WS_CLOSE_PROTOCOL_ERROR = 1002,
	LB_WS_CLOSE_UNSUPPORTED = 1003,
	LB_WS_CLOSE_INVALID_PAYLOAD = 1007,
	LB_WS_CLOSE_POLICY = 1008,
	LB_WS_CLOSE_TOO_BIG = 1009,
	LB_WS_CLOSE_INTERNAL = 1011,
};

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
 * -EINVAL (and `ret` untouched) unless the key is 24 base64 characters that decode to 16 bytes
 * (RFC 6455 4.2.1), as a browser sends it. */
int lb_ws_accept(const char *key, char ret[LB_WS_ACCEPT_SIZE]);

struct lb_ws_reader {
	ssize_t (*read)(void *ctx, void *buf, size_t size); /* as lb_input's: short reads, no EINTR */
	void *ctx;
	/* Called with each ping's payload, to answer it (lb_ws_pong_fd does); NULL: pings are
	 * dropped. A negative return ends the reading with that error. */
	int (*pong)(void *pong_ctx, const void *payload, size_t len);
	void *pong_ctx;
	uint64_t limit; /* the declared size: payload bytes expected in all */

	/* For a caller to show. */
	uint64_t delivered; /* payload bytes handed out */
	uint64_t frames;    /* frames read, control frames included */
	uint64_t pings;
	uint16_t close_code; /* the client's close frame's code (0: none, or none given) */

	/* The frame being read (private). */
	uint8_t header[14];
	size_t header_have, header_need;
	int opcode;
	bool fin;
	bool in_message; /* a fragmented binary message waits for its continuation frames */
	bool in_payload; /* header read; `left` payload bytes follow */
	uint8_t mask[4];
	uint64_t left, pos; /* payload bytes still to read, and read so far (the mask's offset) */
	uint8_t control[LB_WS_CONTROL_MAX];

	int error; /* the first failure: every later read returns it again */
	struct lb_error err;
};

/* Reads frames through `read(ctx, ...)`; `payload_limit` bytes of binary payload are expected. */
void lb_ws_reader_init(struct lb_ws_reader *r, ssize_t (*read)(void *ctx, void *buf, size_t size), void *ctx,
		       uint64_t payload_limit);

/* Answers pings through `pong(pong_ctx, payload, len)`. */
void lb_ws_reader_set_pong(struct lb_ws_reader *r,
			   int (*pong)(void *pong_ctx, const void *payload, size_t len), void *pong_ctx);

/* The next bytes of payload (1 to `size`, unmasked), of binary frames and their continuations;
 * pings are answered and pongs skipped on the way. 0 once `payload_limit` bytes have been
 * handed out (nothing more is read from the connection then), or when `size` is 0. Errors, each
 * with a message from lb_ws_reader_error:
 *   -ECONNABORTED  the client sent a close frame before the declared size
 *   -EFBIG         a frame runs past the declared size
 *   -EPROTO        a protocol violation: unmasked frame, text frame, reserved bits, unknown
 *                  opcode, long or fragmented control frame, continuation out of place
 *   -EPIPE         the connection ended inside a frame
 *   -ENODATA       the connection ended between frames, before the declared size
 *   other          the read function's error, passed through */
ssize_t lb_ws_read(struct lb_ws_reader *r, void *buf, size_t size);

/* Why reading stopped, for a person ("" while nothing failed). r->err has the lb_code too. */
const char *lb_ws_reader_error(const struct lb_ws_reader *r);

/* An input (input.h) yielding the payload, for the installer to read the bundle from. */
void lb_ws_reader_input(struct lb_ws_reader *r, struct lb_input *ret);

/* The header of an unmasked final frame (a server's); returns its length (2, 4 or 10). A client's
 * frame sets the mask bit, 0x80 of byte 1, and puts its key after this header. */
size_t lb_ws_frame_header(uint8_t out[LB_WS_HEADER_MAX], int opcode, uint64_t length);

/* XORs the masking key into `n` bytes of payload, `pos` being the offset of p[0] in the frame's
 * payload: masks a client's frame and unmasks it alike (RFC 6455 5.3). */
void lb_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t pos);

/* Writes one whole frame to `fd` (short writes and EINTR looped over). Frames never interleave:
 * every thread of the process sends under one lock, and frames up to 4 KiB go out in a single
 * write(2), whole on a pipe even against another process. -EINVAL for an unknown opcode or a
 * control frame over 125 bytes. */
int lb_ws_send(int fd, int opcode, const void *payload, size_t length);

/* A close frame with `code` and a reason of at most 123 bytes (-EINVAL if longer; NULL: none). */
int lb_ws_send_close(int fd, uint16_t code, const char *reason);

/* A pong callback for lb_ws_reader_set_pong: answers on the file descriptor `*(int *)fd`. */
int lb_ws_pong_fd(void *fd, const void *payload, size_t len);
