/* bench/ws-send: uploads a bundle to /api/install over a WebSocket as the page does (docs/http-api.md,
 * "Uploading over a WebSocket"), for bench/run's part 3; not part of Lifeboat. It does what
 * tests/ws-upload.js does for the tests, in C: node spends more CPU on the upload than the
 * device does, so on a shared machine its time measured node. A browser does this work on the
 * operator's laptop; here the client should cost as little as curl does for a POST.
 *
 *   ws-send http://HOST:PORT BUNDLE [TIMING_FILE]
 *
 * Sends the bundle in masked binary frames of 1 MiB (RFC 6455 5.3: a fresh random key per
 * frame; the header and the masking are the core library's, cgi/lib/websocket.c), answers
 * pings, prints the server's one text message and writes the seconds from the connection's
 * start to that message into TIMING_FILE.
 * Exit: 0 a message came, 2 the handshake was refused (the answer printed), 3 the connection
 * ended without a message, 1 any other failure. */
#include "lib/websocket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLICE (1u << 20)
#define HEADER_MAX (LB_WS_HEADER_MAX + 4) /* and the masking key */
#define INPUT_MAX (64u << 10)

static void die(const char *what)
{
	fprintf(stderr, "ws-send: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const void *buf, size_t size)
{
	const char *p = buf;
	while (size) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			struct pollfd w = {.fd = fd, .events = POLLOUT};
			if (errno != EAGAIN || poll(&w, 1, -1) < 0)
				die("write");
			continue;
		}
		p += n;
		size -= (size_t)n;
	}
}

/* One final client frame into `out` (HEADER_MAX + length bytes): the library's header with the
 * mask bit set, a fresh random key, the masked payload. */
static size_t frame(uint8_t *out, int opcode, const uint8_t *payload, size_t length)
{
	size_t h = lb_ws_frame_header(out, opcode, length);
	out[1] |= 0x80;
	if (getrandom(out + h, 4, 0) != 4)
		die("getrandom");
	memcpy(out + h + 4, payload, length);
	lb_ws_mask(out + h + 4, length, out + h, 0);
	return h + 4 + length;
}

static int connect_to(const char *url, char *host_port, size_t host_port_size)
{
	const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
	if (!p)
		die("the URL must start with http://");
	snprintf(host_port, host_port_size, "%.*s", (int)strcspn(p, "/"), p);
	char host[256];
	const char *colon = strrchr(host_port, ':');
	if (!colon)
		die("the URL must name a port");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - host_port), host_port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		die("cannot resolve the URL's host");
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("connect");
	freeaddrinfo(ai);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: ws-send http://HOST:PORT BUNDLE [TIMING_FILE]\n");
		return 64;
	}
	int file = open(argv[2], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (file < 0 || fstat(file, &st) < 0)
		die(argv[2]);
	uint64_t size = (uint64_t)st.st_size;

	signal(SIGPIPE, SIG_IGN); /* a server that went away is seen in what it said, and in EPIPE */
	double started = now();
	char host_port[300];
	int fd = connect_to(argv[1], host_port, sizeof(host_port));
	uint8_t nonce[16];
	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
		die("getrandom");
	unsigned char key[25]; /* base64 of 16 bytes, and the NUL */
	EVP_EncodeBlock(key, nonce, sizeof(nonce));
	char request[1024];
	int n = snprintf(request, sizeof(request),
			 "GET /api/install?size=%llu HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
			 (unsigned long long)size, host_port, key);
	write_all(fd, request, (size_t)n);

	/* The answer's head; what follows it is already the server's first frames. */
	static uint8_t input[INPUT_MAX];
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		ssize_t r = read(fd, input + have, sizeof(input) - 1 - have);
		if (r <= 0)
			die("the handshake's answer");
		have += (size_t)r;
		input[have] = '\0';
		end = strstr((char *)input, "\r\n\r\n");
	}
	if (strncmp((char *)input, "HTTP/1.1 101", 12) != 0) {
		printf("%s", (char *)input); /* the refusal: status, headers and what came of the body */
		return 2;
	}
	size_t head = (size_t)(end + 4 - (char *)input);
	memmove(input, input + head, have - head);
	have -= head;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		die("fcntl");

	uint8_t *slice = malloc(SLICE), *out = malloc(HEADER_MAX + SLICE);
	if (!slice || !out)
		die("malloc");
	uint64_t sent = 0;
	size_t out_len = 0, out_pos = 0;
	for (;;) {
		/* the next frame of the bundle once the last one is out */
		if (out_pos == out_len && sent < size) {
			size_t len = size - sent < SLICE ? (size_t)(size - sent) : SLICE;
			if (pread(file, slice, len, (off_t)sent) != (ssize_t)len)
				die("read the bundle");
			out_len = frame(out, LB_WS_BINARY, slice, len);
			out_pos = 0;
			sent += len;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN | (out_pos < out_len ? POLLOUT : 0)};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll");
		if (p.revents & POLLOUT) {
			ssize_t w = write(fd, out + out_pos, out_len - out_pos);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				break; /* the server went away: what it said is read below */
			if (w > 0)
				out_pos += (size_t)w;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(fd, input + have, sizeof(input) - have);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		/* Server frames: unmasked and final, short (a text answer, pings, a close). */
		while (have >= 2) {
			size_t len = input[1] & 127, off = 2;
			if (len == 126) {
				if (have < 4)
					break;
				len = (size_t)input[2] << 8 | input[3];
				off = 4;
			} else if (len == 127) {
				die("a server frame too long for this client");
			}
			if (have < off + len)
				break;
			int opcode = input[0] & 15;
			uint8_t reply[HEADER_MAX + LB_WS_CONTROL_MAX];
			if (opcode == LB_WS_TEXT) {
				printf("%.*s\n", (int)len, (char *)input + off);
				if (argc == 4) {
					FILE *t = fopen(argv[3], "w");
					if (!t || fprintf(t, "%.3f\n", now() - started) < 0 || fclose(t) != 0)
						die(argv[3]);
				}
				write_all(fd, reply,
					  frame(reply, LB_WS_CLOSE, (const uint8_t *)"\x03\xe8", 2));
				return 0;
			} else if (opcode == LB_WS_PING && len <= LB_WS_CONTROL_MAX) {
				/* a pong goes out between two frames of the bundle, never inside one */
				if (out_pos != out_len) {
					write_all(fd, out + out_pos, out_len - out_pos);
					out_pos = out_len;
				}
				write_all(fd, reply, frame(reply, LB_WS_PONG, input + off, len));
			} else if (opcode == LB_WS_CLOSE) {
				return 3;
			}
			memmove(input, input + off + len, have - off - len);
			have -= off + len;
		}
	}
	return 3;
}
