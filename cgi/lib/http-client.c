#include "http-client.h"
#include "macro.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#define CHUNK_LINE_MAX 256
#define TRAILERS_MAX (16 << 10)

enum body_mode {
	BODY_NONE,    /* 204, 304, 1xx: no body */
	BODY_LENGTH,  /* Content-Length bytes */
	BODY_CHUNKED, /* chunks up to the last, then trailers */
	BODY_CLOSE,   /* until the connection closes (neither of the above) */
};

struct lb_http {
	/* the byte source: a socket (with TLS or not) or a reader */
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;
	ssize_t (*recv)(void *ctx, void *buf, size_t size);
	void *recv_ctx;
	unsigned idle_timeout_ms;

	char buf[LB_HTTP_HEAD_MAX];
	size_t pos, len;

	struct lb_http_response resp;
	enum body_mode mode;
	uint64_t left;  /* BODY_LENGTH: bytes to come; BODY_CHUNKED: bytes left in this chunk */
	uint64_t seen;  /* body bytes returned so far */
	bool chunk_end; /* BODY_CHUNKED: the CRLF after a chunk's data is due */
	bool done;
};

static bool is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* One decimal number filling [s, s+n): no sign, no spaces, no overflow. */
static bool parse_decimal(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

/* Copies a header value that will be sent back (If-Range) or shown: printable ASCII only. */
static int copy_value(char *dst, size_t size, const char *v, size_t n, const char *name, struct lb_error *err)
{
	if (n >= size)
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a %s header longer than %zu bytes", name,
				    size - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a %s header with a control character",
					    name);
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int parse_status_line(const char *l, size_t n, struct lb_http_response *r, struct lb_error *err)
{
	if (n < 12 || (memcmp(l, "HTTP/1.1 ", 9) != 0 && memcmp(l, "HTTP/1.0 ", 9) != 0))
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server does not answer in HTTP/1.x: is this a web server?");
	if (!isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
	    l[9] == '0' || (n > 12 && l[12] != ' '))
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a malformed status line");
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	size_t rn = n > 13 ? n - 13 : 0;
	if (rn >= sizeof(r->reason))
		rn = sizeof(r->reason) - 1;
	for (size_t i = 0; i < rn; i++)
		r->reason[i] = (unsigned char)l[13 + i] >= 0x20 && (unsigned char)l[13 + i] < 0x7f ? l[13 + i] : '?';
	r->reason[rn] = '\0';
	return 0;
}

static int parse_header(const char *l, size_t n, struct lb_http_response *r, bool *seen_te, struct lb_error *err)
{
	const char *colon = memchr(l, ':', n);
	if (!colon || colon == l)
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a malformed header line");
	size_t name_len = (size_t)(colon - l);
	for (size_t i = 0; i < name_len; i++)
		if (!is_token_char((unsigned char)l[i]))
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a malformed header name");
	const char *v = colon + 1, *end = l + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vn = (size_t)(end - v);
#define IS(name) (name_len == sizeof(name) - 1 && !strncasecmp(l, name, name_len))
	if (IS("Content-Length")) {
		uint64_t len;
		if (!parse_decimal(v, vn, &len))
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent an invalid Content-Length");
		if (r->has_length && len != r->content_length)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent two different Content-Lengths");
		r->has_length = true;
		r->content_length = len;
	} else if (IS("Transfer-Encoding")) {
		if (*seen_te || vn != 7 || strncasecmp(v, "chunked", 7) != 0)
			return lb_error_set(err, EBADMSG, LB_E_READ,
					    "the server sent Transfer-Encoding '%.*s': only chunked is supported",
					    (int)(vn > 40 ? 40 : vn), v);
		*seen_te = true;
		r->chunked = true;
	} else if (IS("Accept-Ranges")) {
		r->accept_ranges = vn == 5 && strncasecmp(v, "bytes", 5) == 0;
	} else if (IS("Content-Range")) {
		r->has_range = lb_content_range_parse(v, vn, &r->range);
	} else if (IS("ETag")) {
		return copy_value(r->etag, sizeof(r->etag), v, vn, "ETag", err);
	} else if (IS("Last-Modified")) {
		return copy_value(r->last_modified, sizeof(r->last_modified), v, vn, "Last-Modified", err);
	} else if (IS("Location")) {
		return copy_value(r->location, sizeof(r->location), v, vn, "Location", err);
	}
#undef IS
	return 0;
}

int lb_http_response_parse(const char *head, size_t size, struct lb_http_response *ret, struct lb_error *err)
{
	struct lb_http_response r = {0};
	bool seen_te = false, first = true;
	size_t pos = 0;
	while (pos < size) {
		const char *nl = memchr(head + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - head) : size, n = end - pos;
		if (n > 0 && head[pos + n - 1] == '\r')
			n--;
		const char *l = head + pos;
		if (memchr(l, '\0', n) || (n > 0 && memchr(l, '\r', n)))
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a header with a stray control character");
		int rc;
		if (first)
			rc = parse_status_line(l, n, &r, err);
		else if (n == 0)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent an empty header line");
		else if (l[0] == ' ' || l[0] == '\t')
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a folded header line");
		else
			rc = parse_header(l, n, &r, &seen_te, err);
		if (rc < 0)
			return rc;
		first = false;
		pos = end + 1;
	}
	if (first)
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent an empty response");
	if (r.chunked)
		r.has_length = false, r.content_length = 0; /* Transfer-Encoding wins (RFC 9112, 6.3) */
	*ret = r;
	return 0;
}

/* ---- the byte source ---- */

static ssize_t source_recv(struct lb_http *h, void *buf, size_t size, struct lb_error *err)
{
	if (h->recv) {
		ssize_t n = h->recv(h->recv_ctx, buf, size);
		if (n < 0)
			return lb_error_set(err, (int)-n, LB_E_READ, "reading the response failed: %s", strerror((int)-n));
		return n;
	}
	for (;;) {
		if (h->ssl) {
			ERR_clear_error();
			int n = SSL_read(h->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
			if (n > 0)
				return n;
			int e = SSL_get_error(h->ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN)
				return 0;
			/* a peer that closes without close_notify: the framing tells whether it was early */
			if (e == SSL_ERROR_SYSCALL && errno == 0)
				return 0;
			if (e == SSL_ERROR_SYSCALL && errno == EINTR)
				continue;
			if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
				return lb_error_set(err, ETIMEDOUT, LB_E_READ, "the server sent nothing for %u s",
						    h->idle_timeout_ms / 1000);
			return lb_error_set(err, ECONNRESET, LB_E_READ, "the TLS connection failed: %s",
					    e == SSL_ERROR_SYSCALL ? strerror(errno)
								   : ERR_reason_error_string(ERR_peek_last_error()) ?: "TLS error");
		}
		ssize_t n = recv(h->fd, buf, size, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return lb_error_set(err, ETIMEDOUT, LB_E_READ, "the server sent nothing for %u s",
					    h->idle_timeout_ms / 1000);
		return lb_error_set(err, errno, LB_E_READ, "reading from the server failed: %s", strerror(errno));
	}
}

/* Makes at least one more byte available in h->buf (compacting it first). 0 at the end. */
static ssize_t fill(struct lb_http *h, struct lb_error *err)
{
	if (h->pos > 0) {
		memmove(h->buf, h->buf + h->pos, h->len - h->pos);
		h->len -= h->pos;
		h->pos = 0;
	}
	if (h->len == sizeof(h->buf))
		return lb_error_set(err, E2BIG, LB_E_READ, "the server's response head is larger than %u bytes",
				    LB_HTTP_HEAD_MAX);
	ssize_t n = source_recv(h, h->buf + h->len, sizeof(h->buf) - h->len, err);
	if (n > 0)
		h->len += (size_t)n;
	return n;
}

/* A line of at most `max` bytes from the buffer (without its LF or CRLF), NUL-terminated in
 * place; -ECONNRESET when the source ends first. */
static int read_line(struct lb_http *h, size_t max, char **ret, size_t *ret_len, const char *what,
		     struct lb_error *err)
{
	for (;;) {
		char *nl = memchr(h->buf + h->pos, '\n', h->len - h->pos);
		if (nl) {
			*ret = h->buf + h->pos;
			*ret_len = (size_t)(nl - *ret);
			if (*ret_len > 0 && (*ret)[*ret_len - 1] == '\r')
				(*ret_len)--;
			(*ret)[*ret_len] = '\0';
			h->pos = (size_t)(nl - h->buf) + 1;
			return 0;
		}
		if (h->len - h->pos > max)
			return lb_error_set(err, E2BIG, LB_E_READ, "the server sent a %s line longer than %zu bytes", what,
					    max);
		ssize_t n = fill(h, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return lb_error_set(err, ECONNRESET, LB_E_READ, "the connection closed in the middle of a %s", what);
	}
}

static int read_head(struct lb_http *h, struct lb_error *err)
{
	for (unsigned interim = 0;; interim++) {
		/* the head ends at an empty line; it must fit in the buffer */
		size_t start = h->pos, end;
		for (;;) {
			char *b = h->buf + start;
			size_t avail = h->len - start;
			char *p = NULL;
			for (size_t i = 0; i + 1 < avail && !p; i++)
				if (b[i] == '\n' && (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < avail && b[i + 2] == '\n')))
					p = b + i;
			if (p) {
				end = (size_t)(p - h->buf);
				h->pos = end + (p[1] == '\n' ? 2 : 3);
				break;
			}
			ssize_t n = fill(h, err);
			start = 0; /* fill moved the head to the buffer's start */
			if (n < 0)
				return (int)n;
			if (n == 0)
				return lb_error_set(err, ECONNRESET, LB_E_READ,
						    h->len ? "the connection closed in the middle of the response head"
							   : "the server closed the connection without answering");
		}
		size_t head_len = end - start + 1;
		if (head_len > 0 && h->buf[start + head_len - 1] == '\n')
			head_len--;
		if (head_len > 0 && h->buf[start + head_len - 1] == '\r')
			head_len--;
		int r = lb_http_response_parse(h->buf + start, head_len, &h->resp, err);
		if (r < 0)
			return r;
		if (h->resp.status >= 200)
			break;
		if (interim == 8)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent too many interim (1xx) responses");
	}
	int s = h->resp.status;
	if (s == 204 || s == 304)
		h->mode = BODY_NONE, h->done = true;
	else if (h->resp.chunked)
		h->mode = BODY_CHUNKED;
	else if (h->resp.has_length)
		h->mode = BODY_LENGTH, h->left = h->resp.content_length, h->done = h->left == 0;
	else
		h->mode = BODY_CLOSE;
	return 0;
}

/* Copies up to `size` bytes of what is buffered or else reads into `buf` directly. */
static ssize_t raw_body(struct lb_http *h, void *buf, size_t size, struct lb_error *err)
{
	if (h->pos < h->len) {
		size_t n = h->len - h->pos < size ? h->len - h->pos : size;
		memcpy(buf, h->buf + h->pos, n);
		h->pos += n;
		return (ssize_t)n;
	}
	return source_recv(h, buf, size, err);
}

static int next_chunk(struct lb_http *h, struct lb_error *err)
{
	char *line;
	size_t n;
	int r;
	if (h->chunk_end) {
		if ((r = read_line(h, 2, &line, &n, "chunk", err)) < 0)
			return r;
		if (n != 0)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server's chunked body lacks the line end after a chunk");
		h->chunk_end = false;
	}
	if ((r = read_line(h, CHUNK_LINE_MAX, &line, &n, "chunk size", err)) < 0)
		return r;
	uint64_t v = 0;
	size_t i = 0;
	for (; i < n && isxdigit((unsigned char)line[i]); i++) {
		if (i == 15)
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a chunk size too large");
		v = v * 16 + (uint64_t)(isdigit((unsigned char)line[i]) ? line[i] - '0' : (tolower((unsigned char)line[i]) - 'a' + 10));
	}
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == 0 || (i < n && line[i] != ';'))
		return lb_error_set(err, EBADMSG, LB_E_READ, "the server sent a malformed chunk size line");
	if (v > 0) {
		h->left = v;
		return 0;
	}
	/* the last chunk: trailers (ignored) up to an empty line */
	size_t trailers = 0;
	for (;;) {
		if ((r = read_line(h, CHUNK_LINE_MAX * 16, &line, &n, "trailer", err)) < 0)
			return r;
		if (n == 0)
			break;
		if ((trailers += n) > TRAILERS_MAX)
			return lb_error_set(err, E2BIG, LB_E_READ, "the server sent more than %u bytes of trailers",
					    TRAILERS_MAX);
	}
	h->done = true;
	return 0;
}

ssize_t lb_http_read_body(struct lb_http *h, void *buf, size_t size, struct lb_error *err)
{
	if (size == 0)
		return 0;
	for (;;) {
		if (h->done)
			return 0;
		switch (h->mode) {
		case BODY_NONE:
			return 0;
		case BODY_CLOSE: {
			ssize_t n = raw_body(h, buf, size, err);
			if (n == 0)
				h->done = true;
			if (n > 0)
				h->seen += (uint64_t)n;
			return n;
		}
		case BODY_CHUNKED:
			if (h->left == 0) {
				int r = next_chunk(h, err);
				if (r < 0)
					return r;
				continue;
			}
			/* a chunk's data reads as a length-delimited body */
			__attribute__((fallthrough));
		case BODY_LENGTH: {
			size_t want = h->left < size ? (size_t)h->left : size;
			ssize_t n = raw_body(h, buf, want, err);
			if (n < 0)
				return n;
			if (n == 0) {
				if (h->mode == BODY_LENGTH)
					return lb_error_set(err, ECONNRESET, LB_E_READ,
							    "the connection closed after %llu of %llu bytes",
							    (unsigned long long)h->seen,
							    (unsigned long long)h->resp.content_length);
				return lb_error_set(err, ECONNRESET, LB_E_READ,
						    "the connection closed after %llu bytes, inside a chunk",
						    (unsigned long long)h->seen);
			}
			h->left -= (uint64_t)n;
			h->seen += (uint64_t)n;
			if (h->mode == BODY_LENGTH && h->left == 0)
				h->done = true;
			if (h->mode == BODY_CHUNKED && h->left == 0)
				h->chunk_end = true;
			return n;
		}
		}
	}
}

const struct lb_http_response *lb_http_response(const struct lb_http *h)
{
	return &h->resp;
}

void lb_http_free(struct lb_http *h)
{
	if (!h)
		return;
	if (h->ssl)
		SSL_free(h->ssl); /* no shutdown: the body was read to its end or given up */
	SSL_CTX_free(h->ssl_ctx);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

int lb_http_from_reader(ssize_t (*recv_fn)(void *ctx, void *buf, size_t size), void *ctx, struct lb_http **ret,
			struct lb_error *err)
{
	struct lb_http *h = calloc(1, sizeof(*h));
	if (!h)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	h->fd = -1;
	h->recv = recv_fn;
	h->recv_ctx = ctx;
	int r = read_head(h, err);
	if (r < 0) {
		lb_http_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

/* ---- connections ---- */

static int connect_one(const struct addrinfo *ai, unsigned timeout_ms, int *ret_fd)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		do
			r = poll(&p, 1, (int)timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		r = soerr ? -1 : 0;
		errno = soerr;
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	/* blocking from here on, with the idle timeout as the socket's receive and send timeouts */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*ret_fd = fd;
	return 0;
}

static int open_connection(struct lb_http *h, const struct lb_url *url, const struct lb_http_options *opt,
			   struct lb_error *err)
{
	char port[8];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	snprintf(port, sizeof(port), "%u", url->port);
	int r = getaddrinfo(url->host, port, &hints, &res);
	if (r != 0)
		return lb_error_set(err, EHOSTUNREACH, LB_E_READ, "cannot resolve the host %s: %s", url->host,
				    gai_strerror(r));
	unsigned connect_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms : 15000;
	r = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if ((r = connect_one(ai, connect_ms, &h->fd)) == 0)
			break;
	freeaddrinfo(res);
	if (r < 0)
		return lb_error_set(err, -r, LB_E_READ, "cannot connect to %s port %u: %s", url->host, url->port,
				    r == -ETIMEDOUT ? "no answer (timed out)" : strerror(-r));
	struct timeval tv = {.tv_sec = h->idle_timeout_ms / 1000, .tv_usec = (h->idle_timeout_ms % 1000) * 1000};
	setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!url->https)
		return 0;

	h->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!h->ssl_ctx)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "cannot set up TLS");
	SSL_CTX_set_min_proto_version(h->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(h->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (opt->ca_file ? SSL_CTX_load_verify_locations(h->ssl_ctx, opt->ca_file, NULL) != 1
			 : SSL_CTX_set_default_verify_paths(h->ssl_ctx) != 1)
		return lb_error_set(err, ENOENT, LB_E_USAGE, "cannot load the trusted CA certificates from %s: give a PEM file",
				    opt->ca_file ? opt->ca_file : "the system's store");
	h->ssl = SSL_new(h->ssl_ctx);
	if (!h->ssl || SSL_set_fd(h->ssl, h->fd) != 1)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "cannot set up TLS");
	/* the certificate must name the URL's host: an address as an IP SAN, a name as a DNS one */
	struct in6_addr a6;
	bool is_ip = inet_pton(AF_INET, url->host, &a6) == 1 || inet_pton(AF_INET6, url->host, &a6) == 1;
	X509_VERIFY_PARAM *param = SSL_get0_param(h->ssl);
	if (is_ip)
		X509_VERIFY_PARAM_set1_ip_asc(param, url->host);
	else {
		SSL_set_tlsext_host_name(h->ssl, url->host);
		SSL_set_hostflags(h->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(h->ssl, url->host);
	}
	ERR_clear_error();
	if (SSL_connect(h->ssl) != 1) {
		long v = SSL_get_verify_result(h->ssl);
		if (v != X509_V_OK)
			return lb_error_set(err, EPERM, LB_E_READ,
					    "the certificate of %s is not trusted (%s): give the server's CA with --ca FILE "
					    "(configuration: pull-ca)",
					    url->host, X509_verify_cert_error_string(v));
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		return lb_error_set(err, ECONNRESET, LB_E_READ, "the TLS handshake with %s port %u failed: %s", url->host,
				    url->port, why ? why : "the connection closed (is it an https server?)");
	}
	return 0;
}

static int send_all(struct lb_http *h, const char *data, size_t size, struct lb_error *err)
{
	while (size > 0) {
		ssize_t n;
		if (h->ssl) {
			int w = SSL_write(h->ssl, data, (int)size);
			n = w > 0 ? w : -1;
			if (w <= 0 && SSL_get_error(h->ssl, w) != SSL_ERROR_SYSCALL)
				errno = ECONNRESET;
		} else
			n = send(h->fd, data, size, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lb_error_set(err, errno ? errno : EPIPE, LB_E_READ, "sending the request failed: %s",
					    strerror(errno ? errno : EPIPE));
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

static int get_once(const struct lb_url *url, const struct lb_http_request *req, const struct lb_http_options *opt,
		    struct lb_http **ret, struct lb_error *err)
{
	struct lb_http *h = calloc(1, sizeof(*h));
	if (!h)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	h->fd = -1;
	h->idle_timeout_ms = opt->idle_timeout_ms ? opt->idle_timeout_ms : 30000;
	int r = open_connection(h, url, opt, err);
	if (r == 0) {
		char request[LB_URL_MAX + LB_URL_HOST_MAX + LB_HTTP_VALIDATOR_MAX + 256];
		int n = snprintf(request, sizeof(request),
				 "GET %s HTTP/1.1\r\nHost: %s%s%s", url->target, strchr(url->host, ':') ? "[" : "",
				 url->host, strchr(url->host, ':') ? "]" : "");
		if ((url->https && url->port != 443) || (!url->https && url->port != 80))
			n += snprintf(request + n, sizeof(request) - (size_t)n, ":%u", url->port);
		n += snprintf(request + n, sizeof(request) - (size_t)n,
			      "\r\nUser-Agent: lifeboat/" LB_VERSION "\r\nAccept-Encoding: identity\r\nConnection: close\r\n");
		if (req && req->range_from > 0 && req->range_end > req->range_from)
			n += snprintf(request + n, sizeof(request) - (size_t)n, "Range: bytes=%llu-%llu\r\n",
				      (unsigned long long)req->range_from, (unsigned long long)req->range_end - 1);
		else if (req && req->range_from > 0)
			n += snprintf(request + n, sizeof(request) - (size_t)n, "Range: bytes=%llu-\r\n",
				      (unsigned long long)req->range_from);
		if (req && req->range_from > 0) {
			if (req->if_range && *req->if_range)
				n += snprintf(request + n, sizeof(request) - (size_t)n, "If-Range: %s\r\n", req->if_range);
		}
		n += snprintf(request + n, sizeof(request) - (size_t)n, "\r\n");
		r = send_all(h, request, (size_t)n, err);
	}
	if (r == 0)
		r = read_head(h, err);
	if (r < 0) {
		lb_http_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

int lb_http_get(const struct lb_url *url, const struct lb_http_request *req, const struct lb_http_options *opt,
		struct lb_http **ret, struct lb_url *ret_url, struct lb_error *err)
{
	struct lb_url current = *url;
	for (unsigned redirects = 0;; redirects++) {
		struct lb_http *h = NULL;
		int r = get_once(&current, req, opt, &h, err);
		if (r < 0)
			return r;
		int s = h->resp.status;
		bool redirect = s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
		if (!redirect) {
			if (ret_url)
				*ret_url = current;
			*ret = h;
			return 0;
		}
		struct lb_url next;
		char location[LB_URL_MAX + 1];
		snprintf(location, sizeof(location), "%s", h->resp.location);
		lb_http_free(h);
		if (!location[0])
			return lb_error_set(err, EBADMSG, LB_E_READ, "the server redirects (HTTP %d) without a Location", s);
		if (redirects == LB_HTTP_REDIRECTS_MAX)
			return lb_error_set(err, ELOOP, LB_E_READ, "the server redirects more than %u times",
					    LB_HTTP_REDIRECTS_MAX);
		if (lb_url_resolve(&current, location, &next, err) < 0)
			return -EINVAL;
		if (current.https && !next.https)
			return lb_error_set(err, EPERM, LB_E_READ,
					    "the server redirects from https to plain http (%.200s): refused, since it "
					    "would drop the server's authentication; give the final URL",
					    location);
		current = next;
	}
}
