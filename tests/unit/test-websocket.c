/* The WebSocket module: the handshake's accept value, the frame reader (the same payload
 * however the stream is split, every length form, pings answered, each violation refused with
 * its message, nothing read past the declared size, a large frame through a small buffer), and
 * the server's frames, whole even when two threads send at once. */
#include "lib/websocket.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

/* A client's stream, handed out in pieces: `step` bytes at most per read, or random sizes of 1
 * to `step` when `random` is set. */
struct source {
	const uint8_t *data;
	size_t size, pos, step;
	bool random;
	unsigned state;
	int fail_at_end; /* an errno the read returns once the data is used up (0: end of input) */
};

static ssize_t source_read(void *ctx, void *buf, size_t size)
{
	struct source *s = ctx;
	if (s->pos == s->size && s->fail_at_end)
		return -s->fail_at_end;
	size_t n = s->step;
	if (s->random) {
		s->state = s->state * 1103515245u + 12345u;
		n = 1 + (s->state >> 16) % s->step;
	}
	if (n > size)
		n = size;
	if (n > s->size - s->pos)
		n = s->size - s->pos;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

enum { LEN_MIN, LEN_16, LEN_64 }; /* how a frame spells its length */

/* Appends a masked client frame to out at *at; `first_byte` overrides FIN/RSV/opcode when >= 0. */
static void put_frame(uint8_t *out, size_t *at, int first_byte, int opcode, bool fin, const void *payload,
		      size_t len, int form)
{
	static unsigned seed = 7;
	uint8_t *p = out + *at;
	*p++ = first_byte >= 0 ? (uint8_t)first_byte : (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (form == LEN_MIN && len <= 125)
		*p++ = (uint8_t)(0x80 | len);
	else if (form != LEN_64 && len <= 0xffff) {
		*p++ = 0x80 | 126;
		*p++ = (uint8_t)(len >> 8);
		*p++ = (uint8_t)len;
	} else {
		*p++ = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			*p++ = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	uint8_t key[4];
	for (int i = 0; i < 4; i++) {
		seed = seed * 1103515245u + 12345u;
		key[i] = (uint8_t)(seed >> 16);
	}
	memcpy(p, key, 4);
	p += 4;
	for (size_t i = 0; i < len; i++)
		p[i] = ((const uint8_t *)payload)[i] ^ key[i % 4];
	*at = (size_t)(p - out) + len;
}

struct pongs {
	uint8_t data[1000];
	size_t size;
	unsigned count;
	int result;
};

static int record_pong(void *ctx, const void *payload, size_t len)
{
	struct pongs *p = ctx;
	memcpy(p->data + p->size, payload, len);
	p->size += len;
	p->count++;
	return p->result;
}

/* Reads everything with a caller buffer of `chunk` bytes; returns the last result (0 or an
 * error), and in *ret_size how many bytes landed in out. */
static ssize_t drain(struct lb_ws_reader *r, uint8_t *out, size_t cap, size_t chunk, size_t *ret_size)
{
	size_t total = 0;
	for (;;) {
		size_t want = cap - total < chunk ? cap - total : chunk;
		ssize_t n = lb_ws_read(r, out + total, want);
		if (n <= 0) {
			*ret_size = total;
			return n;
		}
		if ((size_t)n > want)
			return -1000;
		total += (size_t)n;
	}
}

static uint8_t stream[300000], expect[300000], got[300000];

/* Fragmented binary message with a ping and a pong between its frames, then two whole messages
 * (one empty), in all three length forms: 200 + 70000 + 30 + 0 + 5 payload bytes. */
static size_t make_stream(size_t *ret_payload)
{
	for (size_t i = 0; i < sizeof(expect); i++)
		expect[i] = (uint8_t)(i * 31 % 253);
	size_t at = 0, e = 0;
	put_frame(stream, &at, -1, LB_WS_BINARY, false, expect + e, 200, LEN_16);
	e += 200;
	put_frame(stream, &at, -1, LB_WS_PING, true, "are you there", 13, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_CONTINUATION, false, expect + e, 70000, LEN_64);
	e += 70000;
	put_frame(stream, &at, -1, LB_WS_PONG, true, "unsolicited", 11, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_CONTINUATION, true, expect + e, 30, LEN_MIN);
	e += 30;
	put_frame(stream, &at, -1, LB_WS_BINARY, true, "", 0, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_PING, true, "", 0, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_BINARY, true, expect + e, 5, LEN_64);
	e += 5;
	*ret_payload = e;
	return at;
}

static void test_accept(void)
{
	char accept[LB_WS_ACCEPT_SIZE];
	CHECK(lb_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", accept) == 0);
	CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	/* a key from a browser's handshake (Firefox), checked with Python's hashlib */
	CHECK(lb_ws_accept("x3JJHMbDL1EzLkh9GBhXDw==", accept) == 0);
	CHECK(strcmp(accept, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0);
}

static void test_accept_bad_keys(void)
{
	static const char *const bad[] = {
	    "",
	    "dGhlIHNhbXBsZSBub25jZQ",	  /* no padding: 22 characters */
	    "dGhlIHNhbXBsZSBub25jZQ===",  /* 25 */
	    "dGhlIHNhbXBsZSBub25jZQ=A",	  /* padding in the wrong place */
	    "dGhlIHNhbXBsZSBub25jZ!==",	  /* not base64 */
	    "dGhlIHNhbXBs ZSBub25jZ==",	  /* a space inside */
	    "AAAAAAAAAAAAAAAAAAAAAAAA",	  /* 18 bytes, not 16 */
	    "dGhlIHNhbXBsZSBub25jZQ==\n", /* a trailing newline */
	};
	char accept[LB_WS_ACCEPT_SIZE] = "untouched";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(lb_ws_accept(bad[i], accept) == -EINVAL);
	CHECK(lb_ws_accept(NULL, accept) == -EINVAL);
	CHECK(strcmp(accept, "untouched") == 0);
}

static void test_every_split(void)
{
	size_t payload, size = make_stream(&payload);
	size_t steps[] = {1, 2, 3, 5, 7, 13, 100, 4096, 65536, 300000};
	size_t chunks[] = {1, 3, 4096, 300000};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
		for (size_t i = 0; i < 2 * sizeof(steps) / sizeof(steps[0]); i++) {
			struct source s = {stream, size, 0, steps[i / 2], i % 2, (unsigned)(i * 77 + c), 0};
			struct lb_ws_reader r;
			struct pongs pg = {0};
			lb_ws_reader_init(&r, source_read, &s, payload);
			lb_ws_reader_set_pong(&r, record_pong, &pg);
			size_t n;
			CHECK(drain(&r, got, sizeof(got), chunks[c], &n) == 0);
			CHECK(n == payload);
			CHECK(memcmp(got, expect, n) == 0);
			CHECK(r.delivered == payload);
			CHECK(r.frames == 8);
			CHECK(r.pings == 2);
			CHECK(pg.count == 2);
			CHECK(pg.size == 13 && memcmp(pg.data, "are you there", 13) == 0);
			CHECK(s.pos == size);
			CHECK(lb_ws_read(&r, got, 10) == 0); /* and stays at the end */
			CHECK(strcmp(lb_ws_reader_error(&r), "") == 0);
		}
}

/* Every length form, minimal or not, at the edges of the 7- and 16-bit forms. */
static void test_lengths(void)
{
	size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
	int forms[] = {LEN_MIN, LEN_16, LEN_64};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t f = 0; f < 3; f++) {
			if (forms[f] == LEN_16 && lens[i] > 0xffff)
				continue;
			size_t at = 0;
			put_frame(stream, &at, -1, LB_WS_BINARY, true, expect, lens[i], forms[f]);
			put_frame(stream, &at, -1, LB_WS_BINARY, true, "tail", 4, forms[f]);
			memcpy(expect + 100000, expect, lens[i]);
			struct source s = {stream, at, 0, 4096, false, 0, 0};
			struct lb_ws_reader r;
			lb_ws_reader_init(&r, source_read, &s, lens[i] + 4);
			size_t n;
			CHECK(drain(&r, got, sizeof(got), 1000, &n) == 0);
			CHECK(n == lens[i] + 4);
			CHECK(memcmp(got, expect, lens[i]) == 0);
			CHECK(memcmp(got + lens[i], "tail", 4) == 0);
		}
}

/* A ping answered on a pipe with lb_ws_pong_fd: an unmasked pong with the same payload. */
static void test_ping_answered(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	size_t at = 0;
	put_frame(stream, &at, -1, LB_WS_BINARY, false, "abc", 3, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_PING, true, "12345", 5, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_CONTINUATION, true, "def", 3, LEN_MIN);
	struct source s = {stream, at, 0, 1, false, 0, 0};
	struct lb_ws_reader r;
	lb_ws_reader_init(&r, source_read, &s, 6);
	lb_ws_reader_set_pong(&r, lb_ws_pong_fd, &fds[1]);
	size_t n;
	ssize_t last = drain(&r, got, sizeof(got), 4096, &n);
	uint8_t pong[20];
	ssize_t pn = read(fds[0], pong, sizeof(pong));
	close(fds[0]);
	close(fds[1]);
	CHECK(last == 0);
	CHECK(n == 6 && memcmp(got, "abcdef", 6) == 0);
	CHECK(pn == 7);
	CHECK(pong[0] == 0x8a && pong[1] == 5 && memcmp(pong + 2, "12345", 5) == 0);

	/* without a pong callback the ping is dropped and the data still flows */
	s.pos = 0;
	lb_ws_reader_init(&r, source_read, &s, 6);
	CHECK(drain(&r, got, sizeof(got), 4096, &n) == 0);
	CHECK(n == 6 && memcmp(got, "abcdef", 6) == 0 && r.pings == 1);
}

struct bad_case {
	const char *name;
	ssize_t expect;
	const char *message;
};

/* Builds case `i`'s stream (some good data first, so errors come mid-upload); false past the last. */
static bool bad_stream(size_t i, size_t *ret_size, uint64_t *ret_limit, struct bad_case *ret)
{
	static const uint8_t ok[10] = "0123456789";
	size_t at = 0;
	uint64_t limit = 100;
	put_frame(stream, &at, -1, LB_WS_BINARY, true, ok, 10, LEN_MIN);
	switch (i) {
	case 0: {
		uint8_t close[] = {0x03, 0xe9, 'b', 'y', 'e'};
		put_frame(stream, &at, -1, LB_WS_CLOSE, true, close, sizeof(close), LEN_MIN);
		*ret = (struct bad_case){"close", -ECONNABORTED,
					 "the browser closed the connection (close frame, code 1001)"};
		break;
	}
	case 1:
		put_frame(stream, &at, -1, LB_WS_CLOSE, true, "", 0, LEN_MIN);
		*ret = (struct bad_case){"close-no-code", -ECONNABORTED,
					 "the browser closed the connection (close frame, no code)"};
		break;
	case 2:
		put_frame(stream, &at, -1, LB_WS_BINARY, true, expect, 91, LEN_MIN);
		*ret = (struct bad_case){"past-limit", -EFBIG, "more data than the declared size"};
		break;
	case 3:
		put_frame(stream, &at, -1, LB_WS_BINARY, true, expect, 5, LEN_MIN);
		stream[at - 5 - 4 - 1] &= 0x7f; /* the MASK bit */
		*ret = (struct bad_case){"unmasked", -EPROTO, "an unmasked frame (a client must mask)"};
		break;
	case 4:
		put_frame(stream, &at, -1, LB_WS_TEXT, true, "hello", 5, LEN_MIN);
		*ret =
		    (struct bad_case){"text", -EPROTO, "a text frame where the bundle's bytes were expected"};
		break;
	case 5:
	case 6:
	case 7:
		put_frame(stream, &at, 0x80 | (0x40 >> (i - 5)) | LB_WS_BINARY, 0, true, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"reserved-bits", -EPROTO, "reserved bits set"};
		break;
	case 8:
		put_frame(stream, &at, -1, LB_WS_PING, true, expect, 126, LEN_MIN);
		*ret = (struct bad_case){"long-control", -EPROTO,
					 "a control frame longer than 125 bytes or fragmented"};
		break;
	case 9:
		put_frame(stream, &at, -1, LB_WS_PING, false, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"fragmented-control", -EPROTO,
					 "a control frame longer than 125 bytes or fragmented"};
		break;
	case 10:
		put_frame(stream, &at, -1, LB_WS_BINARY, true, expect, 50, LEN_MIN);
		at -= 20;
		*ret = (struct bad_case){"end-in-payload", -EPIPE, "the connection ended inside a frame"};
		break;
	case 11:
		put_frame(stream, &at, -1, LB_WS_BINARY, true, expect, 50, LEN_64);
		at -= 50 + 6;
		*ret = (struct bad_case){"end-in-header", -EPIPE, "the connection ended inside a frame"};
		break;
	case 12:
		*ret = (struct bad_case){"end-between-frames", -ENODATA,
					 "the connection ended before the declared size (10 of 100 bytes)"};
		break;
	case 13:
		put_frame(stream, &at, -1, 3, true, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"opcode-3", -EPROTO, "a frame of unknown opcode 3"};
		break;
	case 14:
		put_frame(stream, &at, -1, 11, true, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"opcode-11", -EPROTO, "a frame of unknown opcode 11"};
		break;
	case 15:
		put_frame(stream, &at, -1, LB_WS_CONTINUATION, true, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"lone-continuation", -EPROTO,
					 "a continuation frame without a message to continue"};
		break;
	case 16:
		put_frame(stream, &at, -1, LB_WS_BINARY, false, "x", 1, LEN_MIN);
		put_frame(stream, &at, -1, LB_WS_BINARY, true, "y", 1, LEN_MIN);
		*ret = (struct bad_case){"message-in-message", -EPROTO,
					 "a new message inside an unfinished fragmented one"};
		break;
	case 17:
		put_frame(stream, &at, -1, LB_WS_BINARY, true, "x", 1, LEN_64);
		stream[at - 1 - 4 - 8] = 0x80; /* the length's top byte */
		*ret = (struct bad_case){"length-top-bit", -EPROTO, "a frame length with the top bit set"};
		break;
	case 18:
		*ret = (struct bad_case){"read-error", -EIO,
					 "reading the connection failed: Input/output error"};
		break;
	case 19:
		put_frame(stream, &at, -1, LB_WS_PING, true, "x", 1, LEN_MIN);
		*ret = (struct bad_case){"pong-fails", -EPIPE, "answering a ping failed: Broken pipe"};
		break;
	default:
		return false;
	}
	*ret_size = at;
	*ret_limit = limit;
	return true;
}

static void test_errors(void)
{
	size_t size;
	uint64_t limit;
	struct bad_case bc;
	for (size_t i = 0; bad_stream(i, &size, &limit, &bc); i++)
		for (size_t step = 1; step <= 4096; step *= 4096) {
			struct source s = {stream, size, 0, step, false, 0, i == 18 ? EIO : 0};
			struct lb_ws_reader r;
			struct pongs pg = {.result = -EPIPE};
			lb_ws_reader_init(&r, source_read, &s, limit);
			lb_ws_reader_set_pong(&r, record_pong, &pg);
			size_t n;
			ssize_t last = drain(&r, got, sizeof(got), 4096, &n);
			if (last != bc.expect ||
			    strstr(lb_ws_reader_error(&r), bc.message) != lb_ws_reader_error(&r))
				printf("# %s: %zd \"%s\"\n", bc.name, last, lb_ws_reader_error(&r));
			CHECK(last == bc.expect);
			CHECK(strstr(lb_ws_reader_error(&r), bc.message) == lb_ws_reader_error(&r));
			/* the data before, and what came of the bad frame's message before the fault */
			CHECK(n >= 10 && memcmp(got, "0123456789", 10) == 0);
			CHECK(n == 10 + (i == 10 ? 30 : i == 16 ? 1 : 0));
			CHECK(lb_ws_read(&r, got, 100) == bc.expect); /* and the error stays */
			CHECK(r.err.code != LB_OK);
			if (i == 0)
				CHECK(r.close_code == 1001);
		}
}

/* Exactly the declared size: 0, and not a byte read beyond the frame that completes it. */
static void test_exact_limit(void)
{
	size_t at = 0;
	put_frame(stream, &at, -1, LB_WS_BINARY, false, expect, 1000, LEN_MIN);
	put_frame(stream, &at, -1, LB_WS_CONTINUATION, false, expect + 1000, 24, LEN_MIN);
	size_t end = at;
	put_frame(stream, &at, -1, LB_WS_TEXT, true, "garbage", 7, LEN_MIN);
	for (size_t step = 1; step <= 65536; step *= 16) {
		struct source s = {stream, at, 0, step, false, 0, 0};
		struct lb_ws_reader r;
		lb_ws_reader_init(&r, source_read, &s, 1024);
		size_t n;
		CHECK(drain(&r, got, sizeof(got), 100, &n) == 0);
		CHECK(n == 1024 && memcmp(got, expect, n) == 0);
		CHECK(s.pos == end);
	}
	/* a declared size of 0 reads nothing at all */
	struct source s = {stream, at, 0, 100, false, 0, 0};
	struct lb_ws_reader r;
	lb_ws_reader_init(&r, source_read, &s, 0);
	CHECK(lb_ws_read(&r, got, 100) == 0);
	CHECK(s.pos == 0);
}

/* 8 MiB in one frame through a 64 KiB buffer: every read hands out at most the buffer and the
 * reader itself stays small. */
static void test_large_frame(void)
{
	size_t size = 8u << 20;
	uint8_t *payload = malloc(size), *frames = malloc(size + 14);
	uint8_t *buf = malloc(64u << 10);
	CHECK(payload && frames && buf);
	for (size_t i = 0; i < size; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8) ^ (i >> 16));
	size_t at = 0;
	put_frame(frames, &at, -1, LB_WS_BINARY, true, payload, size, LEN_MIN);
	struct source s = {frames, at, 0, 100000, true, 3, 0};
	struct lb_ws_reader r;
	lb_ws_reader_init(&r, source_read, &s, size);
	size_t total = 0;
	bool same = true;
	ssize_t n;
	while ((n = lb_ws_read(&r, buf, 64u << 10)) > 0) {
		same = same && (size_t)n <= (64u << 10) && memcmp(buf, payload + total, (size_t)n) == 0;
		total += (size_t)n;
	}
	free(payload);
	free(frames);
	free(buf);
	CHECK(n == 0);
	CHECK(same);
	CHECK(total == size && r.delivered == size && r.frames == 1);
	CHECK(sizeof(struct lb_ws_reader) < 1024);
}

/* The reader as the installer's input. */
static void test_input(void)
{
	size_t payload, size = make_stream(&payload);
	struct source s = {stream, size, 0, 999, true, 5, 0};
	struct lb_ws_reader r;
	lb_ws_reader_init(&r, source_read, &s, payload);
	struct lb_input in;
	lb_ws_reader_input(&r, &in);
	CHECK(lb_input_read_full(&in, got, sizeof(got)) == (ssize_t)payload);
	CHECK(in.consumed == payload);
	CHECK(memcmp(got, expect, payload) == 0);
}

static void test_frame_header(void)
{
	uint8_t h[LB_WS_HEADER_MAX];
	CHECK(lb_ws_frame_header(h, LB_WS_TEXT, 0) == 2 && h[0] == 0x81 && h[1] == 0);
	CHECK(lb_ws_frame_header(h, LB_WS_BINARY, 125) == 2 && h[0] == 0x82 && h[1] == 125);
	CHECK(lb_ws_frame_header(h, LB_WS_TEXT, 126) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
	CHECK(lb_ws_frame_header(h, LB_WS_TEXT, 65535) == 4 && h[2] == 0xff && h[3] == 0xff);
	CHECK(lb_ws_frame_header(h, LB_WS_TEXT, 65536) == 10 && h[1] == 127);
	CHECK(h[2] == 0 && h[3] == 0 && h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 1 && h[8] == 0 &&
	      h[9] == 0);
	CHECK(lb_ws_frame_header(h, LB_WS_CLOSE, (uint64_t)1 << 40) == 10 && h[0] == 0x88 && h[4] == 1);
}

static void test_send(void)
{
	int fd = open(unit_path("out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(lb_ws_send(fd, LB_WS_TEXT, "{\"progress\":1}", 14) == 0);
	CHECK(lb_ws_send(fd, LB_WS_BINARY, expect, 100000) == 0);
	CHECK(lb_ws_send_close(fd, LB_WS_CLOSE_NORMAL, "done") == 0);
	CHECK(lb_ws_send_close(fd, LB_WS_CLOSE_GOING_AWAY, NULL) == 0);
	char reason[125];
	memset(reason, 'r', 124);
	reason[124] = 0;
	CHECK(lb_ws_send_close(fd, 1000, reason) == -EINVAL);
	CHECK(lb_ws_send(fd, LB_WS_PING, expect, 126) == -EINVAL);
	CHECK(lb_ws_send(fd, 3, "x", 1) == -EINVAL);
	CHECK(lb_ws_send(fd, LB_WS_CONTINUATION, "x", 1) == -EINVAL);
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK(size == 2 + 14 + 10 + 100000 + 2 + 6 + 2 + 2);
	CHECK(pread(fd, got, (size_t)size, 0) == size);
	close(fd);
	CHECK(got[0] == 0x81 && got[1] == 14 && memcmp(got + 2, "{\"progress\":1}", 14) == 0);
	const uint8_t *p = got + 16;
	CHECK(p[0] == 0x82 && p[1] == 127 && p[7] == 0x01 && p[8] == 0x86 && p[9] == 0xa0);
	CHECK(memcmp(p + 10, expect, 100000) == 0);
	p += 10 + 100000;
	CHECK(p[0] == 0x88 && p[1] == 6 && p[2] == 0x03 && p[3] == 0xe8 && memcmp(p + 4, "done", 4) == 0);
	p += 8;
	CHECK(p[0] == 0x88 && p[1] == 2 && p[2] == 0x03 && p[3] == 0xe9);
}

/* Two threads send at once into one pipe, long messages and pings: each frame arrives whole. */
struct pipe_sink {
	int fd;
	uint8_t *data;
	size_t size, cap;
};

static void *sink_all(void *userdata)
{
	struct pipe_sink *k = userdata;
	ssize_t n;
	while (k->size < k->cap && (n = read(k->fd, k->data + k->size, k->cap - k->size)) > 0)
		k->size += (size_t)n;
	return NULL;
}

#define MESSAGES 8
#define PINGS 400

static void *send_pings(void *userdata)
{
	for (int i = 0; i < PINGS; i++)
		lb_ws_send(*(int *)userdata, LB_WS_PING, "ping", 4);
	return NULL;
}

static void test_send_threads(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	struct pipe_sink sink = {.fd = fds[0], .cap = MESSAGES * (10 + 100000) + PINGS * 6 + 1};
	sink.data = malloc(sink.cap);
	pthread_t reader, pinger;
	CHECK(pthread_create(&reader, NULL, sink_all, &sink) == 0);
	CHECK(pthread_create(&pinger, NULL, send_pings, &fds[1]) == 0);
	for (int i = 0; i < MESSAGES; i++)
		CHECK(lb_ws_send(fds[1], LB_WS_BINARY, expect, 100000) == 0);
	pthread_join(pinger, NULL);
	close(fds[1]);
	pthread_join(reader, NULL);
	close(fds[0]);
	CHECK(sink.size == sink.cap - 1);
	unsigned messages = 0, pings = 0;
	for (const uint8_t *p = sink.data, *end = sink.data + sink.size; p < end;) {
		if (p[0] == 0x89 && p + 6 <= end && p[1] == 4 && memcmp(p + 2, "ping", 4) == 0) {
			pings++;
			p += 6;
		} else if (p[0] == 0x82 && p + 10 + 100000 <= end && p[1] == 127 && memcmp(p + 10, expect, 100000) == 0) {
			messages++;
			p += 10 + 100000;
		} else {
			break; /* a broken frame: the counts fall short */
		}
	}
	free(sink.data);
	CHECK(messages == MESSAGES);
	CHECK(pings == PINGS);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/websocket/accept/rfc-example", test_accept},
	    {"/websocket/accept/bad-keys", test_accept_bad_keys},
	    {"/websocket/read/every-split", test_every_split},
	    {"/websocket/read/lengths", test_lengths},
	    {"/websocket/read/ping-answered", test_ping_answered},
	    {"/websocket/read/errors", test_errors},
	    {"/websocket/read/exact-limit", test_exact_limit},
	    {"/websocket/read/large-frame", test_large_frame},
	    {"/websocket/read/as-input", test_input},
	    {"/websocket/send/frame-header", test_frame_header},
	    {"/websocket/send/frames", test_send},
	    {"/websocket/send/threads", test_send_threads},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
