/* Fuzz target: the WebSocket frame reader on an arbitrary client stream, delivered in pieces of
 * random size, read into caller buffers of random size. Input: one byte seeding the piece and
 * buffer sizes, three bytes of declared size (big-endian), then the frames. What comes out must
 * hold together: never more than the declared size nor than a read asked for, a clean end only
 * at exactly the declared size, a message for every failure, pings of at most 125 bytes. The
 * first 24 bytes also go through the handshake's key check. */
#include "pieces.h"
#include "lib/websocket.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ssize_t reader(void *ctx, void *buf, size_t size)
{
	return pieces_read(ctx, buf, size);
}

static int pong(void *ctx, const void *payload, size_t len)
{
	(void)payload;
	if (len > LB_WS_CONTROL_MAX)
		abort();
	(*(unsigned *)ctx)++;
	return 0;
}

static void check_accept(const uint8_t *data, size_t size)
{
	if (size < 24)
		return;
	char key[25], accept[LB_WS_ACCEPT_SIZE];
	memcpy(key, data, 24);
	key[24] = 0;
	if (lb_ws_accept(key, accept) == 0 && (strlen(accept) != LB_WS_ACCEPT_SIZE - 1 || strlen(key) != 24))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_accept(data, size);
	if (size < 4)
		return 0;
	uint64_t limit = (uint64_t)data[1] << 16 | (uint64_t)data[2] << 8 | data[3];
	struct pieces p = {.data = data + 4, .size = size - 4, .state = data[0], .max = 67};
	struct lb_ws_reader r;
	unsigned pongs = 0;
	lb_ws_reader_init(&r, reader, &p, limit);
	lb_ws_reader_set_pong(&r, pong, &pongs);
	static uint8_t buf[4096];
	unsigned state = data[0];
	uint64_t total = 0;
	ssize_t n;
	do {
		state = state * 1103515245u + 12345u;
		size_t want = 1 + (state >> 16) % sizeof(buf);
		n = lb_ws_read(&r, buf, want);
		if (n > (ssize_t)want)
			abort();
		if (n > 0)
			total += (uint64_t)n;
	} while (n > 0);
	if (total != r.delivered || total > limit || p.pos > p.size || pongs != r.pings)
		abort();
	if (n == 0 && total != limit)
		abort(); /* a clean end before the declared size */
	if (n < 0 && (!lb_error_failed(&r.err) || !*lb_ws_reader_error(&r) || lb_ws_read(&r, buf, 1) != n))
		abort(); /* a failure that does not say why, or does not stay */
	return 0;
}
