#include "websocket.h"
#include "io.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

int lb_ws_accept(const char *key, char ret[LB_WS_ACCEPT_SIZE])
{
	/* 16 bytes in base64 are 22 characters and "==": nothing else decodes to 16 bytes. */
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return -EINVAL;
	for (size_t i = 0; i < 22; i++)
		if (!is_base64(key[i]))
			return -EINVAL;
	uint8_t decoded[24];
	if (EVP_DecodeBlock(decoded, (const unsigned char *)key, 24) != 18)
		return -EINVAL;

	char text[24 + sizeof(guid)];
	memcpy(text, key, 24);
	memcpy(text + 24, guid, sizeof(guid));
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned len;
	if (!EVP_Digest(text, strlen(text), digest, &len, EVP_sha1(), NULL) || len != 20)
		return -EIO;
	char out[LB_WS_ACCEPT_SIZE];
	if (EVP_EncodeBlock((unsigned char *)out, digest, 20) != LB_WS_ACCEPT_SIZE - 1)
		return -EIO;
	memcpy(ret, out, LB_WS_ACCEPT_SIZE);
	return 0;
}

void lb_ws_reader_init(struct lb_ws_reader *r, ssize_t (*read)(void *ctx, void *buf, size_t size), void *ctx,
		       uint64_t payload_limit)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
	r->limit = payload_limit;
	r->header_need = 2;
}

void lb_ws_reader_set_pong(struct lb_ws_reader *r,
			   int (*pong)(void *pong_ctx, const void *payload, size_t len), void *pong_ctx)
{
	r->pong = pong;
	r->pong_ctx = pong_ctx;
}

const char *lb_ws_reader_error(const struct lb_ws_reader *r)
{
	return r->err.message;
}

/* Records the first failure; later calls of lb_ws_read return it again. */
__attribute__((format(printf, 4, 5))) static int fail(struct lb_ws_reader *r, int err_no, enum lb_code code,
						      const char *fmt, ...)
{
	if (r->error)
		return r->error;
	va_list ap;
	va_start(ap, fmt);
	char message[LB_ERROR_MESSAGE_MAX];
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	r->error = lb_error_set(&r->err, err_no, code, "%s", message);
	return r->error;
}

static int protocol(struct lb_ws_reader *r, const char *what)
{
	return fail(r, EPROTO, LB_E_READ, "%s", what);
}

/* Reads 1 to `size` bytes; end of input and read errors become the reader's error. */
static ssize_t source_read(struct lb_ws_reader *r, void *buf, size_t size, bool between_frames)
{
	ssize_t n = r->read(r->ctx, buf, size);
	if (n > 0)
		return n;
	if (n < 0)
		return fail(r, (int)-n, LB_E_READ, "reading the connection failed: %s", strerror((int)-n));
	if (between_frames)
		return fail(r, ENODATA, LB_E_TRUNCATED,
			    "the connection ended before the declared size (%llu of %llu bytes)",
			    (unsigned long long)r->delivered, (unsigned long long)r->limit);
	return fail(r, EPIPE, LB_E_TRUNCATED,
		    "the connection ended inside a frame (after %llu of %llu bytes)",
		    (unsigned long long)r->delivered, (unsigned long long)r->limit);
}

/* Checks the first two header bytes, and says how many more the header has. */
static int parse_start(struct lb_ws_reader *r)
{
	uint8_t b0 = r->header[0], b1 = r->header[1];
	r->fin = b0 & 0x80;
	r->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return protocol(r, "reserved bits set (no extension was negotiated)");
	bool control = r->opcode & 0x08;
	switch (r->opcode) {
	case LB_WS_CONTINUATION:
	case LB_WS_BINARY:
	case LB_WS_CLOSE:
	case LB_WS_PING:
	case LB_WS_PONG:
		break;
	case LB_WS_TEXT:
		return protocol(r, "a text frame where the bundle's bytes were expected");
	default: {
		char what[64];
		snprintf(what, sizeof(what), "a frame of unknown opcode %d", r->opcode);
		return protocol(r, what);
	}
	}
	if (!(b1 & 0x80))
		return protocol(r, "an unmasked frame (a client must mask)");
	unsigned len7 = b1 & 0x7f;
	if (control && (len7 > LB_WS_CONTROL_MAX || !r->fin))
		return protocol(r, "a control frame longer than 125 bytes or fragmented");
	/* Fragments of one message may have control frames between them, nothing else. */
	if (r->opcode == LB_WS_CONTINUATION && !r->in_message)
		return protocol(r, "a continuation frame without a message to continue");
	if (r->opcode == LB_WS_BINARY && r->in_message)
		return protocol(r, "a new message inside an unfinished fragmented one");
	r->header_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return 0;
}

/* The whole header is in: length and masking key. */
static int parse_rest(struct lb_ws_reader *r)
{
	unsigned len7 = r->header[1] & 0x7f;
	const uint8_t *p = r->header + 2;
	uint64_t length = len7;
	if (len7 == 126) {
		length = (uint64_t)p[0] << 8 | p[1];
		p += 2;
	} else if (len7 == 127) {
		length = 0;
		for (int i = 0; i < 8; i++)
			length = length << 8 | p[i];
		p += 8;
		if (length >> 63)
			return protocol(r, "a frame length with the top bit set");
	}
	memcpy(r->mask, p, 4);
	r->left = length;
	r->pos = 0;
	r->in_payload = true;
	r->frames++;
	if (r->opcode == LB_WS_BINARY || r->opcode == LB_WS_CONTINUATION) {
		if (length > r->limit - r->delivered)
			return fail(
			    r, EFBIG, LB_E_TRAILING_DATA,
			    "more data than the declared size (a frame of %llu bytes after %llu of %llu): "
			    "declare the file's whole size and send the file alone",
			    (unsigned long long)length, (unsigned long long)r->delivered,
			    (unsigned long long)r->limit);
		r->in_message = !r->fin;
	}
	return 0;
}

/* Eight bytes at a time: at 500 MB/s a byte loop would be the bottleneck of an upload. */
void lb_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t pos)
{
	size_t i = 0;
	for (; i < n && ((pos + i) & 3); i++)
		p[i] ^= key[(pos + i) & 3];
	uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
	uint64_t k;
	memcpy(&k, k8, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		w ^= k;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= key[(pos + i) & 3];
}

/* A control frame's payload is in r->control: act on it. */
static int handle_control(struct lb_ws_reader *r, size_t len)
{
	switch (r->opcode) {
	case LB_WS_PING:
		r->pings++;
		if (r->pong) {
			int e = r->pong(r->pong_ctx, r->control, len);
			if (e < 0)
				return fail(r, -e, LB_E_IO, "answering a ping failed: %s", strerror(-e));
		}
		return 0;
	case LB_WS_PONG:
		return 0;
	default: /* close */
		if (len >= 2) {
			r->close_code = (uint16_t)(r->control[0] << 8 | r->control[1]);
			return fail(r, ECONNABORTED, LB_E_CANCELLED,
				    "the browser closed the connection (close frame, code %u) after %llu of "
				    "%llu bytes",
				    r->close_code, (unsigned long long)r->delivered,
				    (unsigned long long)r->limit);
		}
		return fail(
		    r, ECONNABORTED, LB_E_CANCELLED,
		    "the browser closed the connection (close frame, no code) after %llu of %llu bytes",
		    (unsigned long long)r->delivered, (unsigned long long)r->limit);
	}
}

ssize_t lb_ws_read(struct lb_ws_reader *r, void *buf, size_t size)
{
	if (r->error)
		return r->error;
	if (size > SSIZE_MAX)
		size = SSIZE_MAX;
	while (size > 0 && r->delivered < r->limit) {
		if (!r->in_payload) {
			bool between = r->header_have == 0;
			ssize_t n = source_read(r, r->header + r->header_have,
						r->header_need - r->header_have, between);
			if (n < 0)
				return n;
			r->header_have += (size_t)n;
			if (r->header_have < r->header_need)
				continue;
			int e = r->header_have == 2 ? parse_start(r) : 0;
			if (e < 0)
				return e;
			if (r->header_have < r->header_need)
				continue;
			e = parse_rest(r);
			if (e < 0)
				return e;
			r->header_have = 0;
			r->header_need = 2;
		}
		bool control = r->opcode & 0x08;
		if (control) {
			if (r->left > 0) {
				ssize_t n = source_read(r, r->control + r->pos, (size_t)r->left, false);
				if (n < 0)
					return n;
				r->pos += (uint64_t)n;
				r->left -= (uint64_t)n;
				if (r->left > 0)
					continue;
			}
			r->in_payload = false;
			lb_ws_mask(r->control, (size_t)r->pos, r->mask, 0);
			int e = handle_control(r, (size_t)r->pos);
			if (e < 0)
				return e;
			continue;
		}
		if (r->left == 0) { /* an empty data frame, or the end of one */
			r->in_payload = false;
			continue;
		}
		size_t want = r->left < size ? (size_t)r->left : size;
		ssize_t n = source_read(r, buf, want, false);
		if (n < 0)
			return n;
		lb_ws_mask(buf, (size_t)n, r->mask, r->pos);
		r->pos += (uint64_t)n;
		r->left -= (uint64_t)n;
		r->delivered += (uint64_t)n;
		if (r->left == 0)
			r->in_payload = false;
		return n;
	}
	return 0;
}

static ssize_t input_read(void *ctx, void *buf, size_t size)
{
	return lb_ws_read(ctx, buf, size);
}

void lb_ws_reader_input(struct lb_ws_reader *r, struct lb_input *ret)
{
	ret->read = input_read;
	ret->ctx = r;
	ret->consumed = 0;
}

size_t lb_ws_frame_header(uint8_t out[LB_WS_HEADER_MAX], int opcode, uint64_t length)
{
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (length <= 125) {
		out[1] = (uint8_t)length;
		return 2;
	}
	if (length <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(length >> 8);
		out[3] = (uint8_t)length;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(length >> (56 - 8 * i));
	return 10;
}

int lb_ws_send(int fd, int opcode, const void *payload, size_t length)
{
	switch (opcode) {
	case LB_WS_TEXT:
	case LB_WS_BINARY:
		break;
	case LB_WS_CLOSE:
	case LB_WS_PING:
	case LB_WS_PONG:
		if (length > LB_WS_CONTROL_MAX)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	/* One frame at a time, whichever thread sends: a ping must not land inside a long message.
	 * PIPE_BUF bytes and fewer are also written to a pipe atomically. */
	static pthread_mutex_t sending = PTHREAD_MUTEX_INITIALIZER;
	uint8_t frame[4096];
	size_t h = lb_ws_frame_header(frame, opcode, length);
	int e;
	pthread_mutex_lock(&sending);
	if (h + length <= sizeof(frame)) {
		if (length > 0)
			memcpy(frame + h, payload, length);
		e = lb_write_full(fd, frame, h + length);
	} else {
		e = lb_write_full(fd, frame, h);
		if (e >= 0)
			e = lb_write_full(fd, payload, length);
	}
	pthread_mutex_unlock(&sending);
	return e;
}

int lb_ws_send_close(int fd, uint16_t code, const char *reason)
{
	size_t len = reason ? strlen(reason) : 0;
	if (len > LB_WS_CONTROL_MAX - 2)
		return -EINVAL;
	uint8_t payload[LB_WS_CONTROL_MAX];
	payload[0] = (uint8_t)(code >> 8);
	payload[1] = (uint8_t)code;
	if (len > 0)
		memcpy(payload + 2, reason, len);
	return lb_ws_send(fd, LB_WS_CLOSE, payload, 2 + len);
}

int lb_ws_pong_fd(void *fd, const void *payload, size_t len)
{
	return lb_ws_send(*(int *)fd, LB_WS_PONG, payload, len);
}
