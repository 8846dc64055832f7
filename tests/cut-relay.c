/* cut-relay PORT UPSTREAM_PORT CUT_BYTES CUTS [COMMAND]: a TCP relay on 127.0.0.1:PORT in front
 * of 127.0.0.1:UPSTREAM_PORT that cuts each of its first CUTS connections after CUT_BYTES bytes
 * of the server's answer (head included), as a dropped link does, and relays the later ones
 * whole. COMMAND, if given, runs through the shell after the first cut (the test's way of
 * replacing the file on the server mid-download). Prints "ready" when it listens; built and run
 * by tests/integration/pull.sh and delta.sh.
 * CUT_BYTES written "up:N" cuts after N bytes from the client instead (an upload cut mid-body);
 * then only connections that are really cut count towards CUTS, so that the short requests a
 * client makes before its upload pass. Every connection relayed whole ends with a line
 * "cut-relay: connection N relayed whole: U bytes up, D bytes down" on stderr: what crossed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int connect_upstream(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

/* Relays until either side closes, or `cut` bytes (0: no limit) came from upstream, or `cut_up`
 * bytes (0: no limit) from the client. Returns whether it cut; counts what crossed in *up, *down. */
static int relay(int client, int upstream, long cut, long cut_up, long *up_count, long *down_count)
{
	char buf[4096];
	long down = 0, up = 0;
	int cut_done = 0;
	struct pollfd p[2] = {{.fd = client, .events = POLLIN}, {.fd = upstream, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0)
			break;
		if (p[0].revents) {
			size_t want = sizeof(buf);
			if (cut_up && cut_up - up < (long)want)
				want = (size_t)(cut_up - up);
			ssize_t n = read(client, buf, want);
			if (n <= 0 || write(upstream, buf, (size_t)n) != n)
				break;
			up += n;
			if (cut_up && up >= cut_up) {
				cut_done = 1;
				break;
			}
		}
		if (p[1].revents) {
			size_t want = sizeof(buf);
			if (cut && cut - down < (long)want)
				want = (size_t)(cut - down);
			ssize_t n = read(upstream, buf, want);
			if (n <= 0 || write(client, buf, (size_t)n) != n)
				break;
			down += n;
			if (cut && down >= cut) {
				cut_done = 1;
				break;
			}
		}
	}
	*up_count = up;
	*down_count = down;
	return cut_done;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: cut-relay PORT UPSTREAM_PORT CUT_BYTES CUTS [COMMAND]\n");
		return 2;
	}
	int port = atoi(argv[1]), upstream_port = atoi(argv[2]), cuts = atoi(argv[4]);
	int upload = strncmp(argv[3], "up:", 3) == 0;
	long cut = upload ? 0 : atol(argv[3]), cut_up = upload ? atol(argv[3] + 3) : 0;
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 16) < 0) {
		perror("cut-relay: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	long up, down;
	for (int count = 0, cut_count = 0;; count++) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		int cutting = (upload ? cut_count : count) < cuts;
		int u = connect_upstream(upstream_port);
		if (u < 0) {
			close(c);
			continue;
		}
		if (cutting) {
			/* in line: the next connection is accepted after this one is cut */
			int was_cut = relay(c, u, cut, cut_up, &up, &down);
			close(c);
			close(u);
			if (upload && !was_cut) {
				fprintf(stderr, "cut-relay: connection %d relayed whole: %ld bytes up, %ld bytes down\n",
					count + 1, up, down);
				continue;
			}
			fprintf(stderr, "cut-relay: cut connection %d after %ld bytes\n", count + 1, upload ? cut_up : cut);
			if (cut_count++ == 0 && argc > 5 && system(argv[5]) != 0)
				fprintf(stderr, "cut-relay: '%s' failed\n", argv[5]);
			continue;
		}
		if (fork() == 0) {
			close(ls);
			relay(c, u, 0, 0, &up, &down);
			fprintf(stderr, "cut-relay: connection %d relayed whole: %ld bytes up, %ld bytes down\n", count + 1,
				up, down);
			_exit(0);
		}
		close(c);
		close(u);
	}
}
