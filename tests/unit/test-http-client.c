/* The pull client's parsers: URLs and redirects, response heads, body framing (Content-Length,
 * chunked, until close) read in small pieces, and the pull's request and result files. */
#include "lib/http-client.h"
#include "lib/pull.h"
#include "lib/url.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>

static void test_url(void)
{
	struct lb_url u;
	struct lb_error err = {0};
	CHECK(lb_url_parse("http://example.com/a/b.lifeboat?x=1#frag", &u, &err) == 0);
	CHECK(!u.https && u.port == 80 && !strcmp(u.host, "example.com") && !strcmp(u.target, "/a/b.lifeboat?x=1"));
	CHECK(lb_url_parse("HTTPS://[::1]:8443", &u, &err) == 0);
	CHECK(u.https && u.port == 8443 && !strcmp(u.host, "::1") && !strcmp(u.target, "/"));
	const char *bad[] = {"ftp://x/y", "http://", "http://user:pw@host/", "http://h:0/", "http://h:65536/",
			     "http://h:/", "http://h/a b", "http://[::1/", "file:///etc/passwd", "http://h:12x/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lb_error e = {0};
		CHECK(lb_url_parse(bad[i], &u, &e) < 0 && e.code == LB_E_USAGE && e.message[0]);
	}
}

static void test_resolve(void)
{
	struct lb_url base, u;
	struct lb_error err = {0};
	CHECK(lb_url_parse("https://h:8443/dir/file?q", &base, &err) == 0);
	CHECK(lb_url_resolve(&base, "/other", &u, &err) == 0 && u.https && u.port == 8443 && !strcmp(u.target, "/other"));
	CHECK(lb_url_resolve(&base, "next.lifeboat", &u, &err) == 0 && !strcmp(u.target, "/dir/next.lifeboat"));
	CHECK(lb_url_resolve(&base, "//cdn.example/x", &u, &err) == 0 && u.https && !strcmp(u.host, "cdn.example"));
	CHECK(lb_url_resolve(&base, "http://plain/x", &u, &err) == 0 && !u.https);
}

static void test_head(void)
{
	struct lb_http_response r;
	struct lb_error err = {0};
	const char *ok = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/20\r\nContent-Length: 10\r\n"
			 "ETag: \"5f-1\"\r\nlast-modified: Mon, 01 Jan 2024 00:00:00 GMT";
	CHECK(lb_http_response_parse(ok, strlen(ok), &r, &err) == 0);
	CHECK(r.status == 206 && r.has_range && r.range.first == 10 && r.range.total == 20);
	CHECK(r.has_length && r.content_length == 10 && !strcmp(r.etag, "\"5f-1\"") && r.last_modified[0]);
	const char *bad[] = {
		"HTTP/2 200 OK",
		"HTTP/1.1 2x0 OK",
		"HTTP/1.1 200 OK\r\nContent-Length: -1",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded",
		"HTTP/1.1 200 OK\r\nno colon",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lb_error e = {0};
		CHECK(lb_http_response_parse(bad[i], strlen(bad[i]), &r, &e) < 0 && e.message[0]);
	}
	/* Transfer-Encoding wins over Content-Length */
	const char *both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked";
	CHECK(lb_http_response_parse(both, strlen(both), &r, &err) == 0 && r.chunked && !r.has_length);
}

struct bytes {
	const char *data;
	size_t size, pos;
};

/* three bytes at a time: every boundary falls somewhere awkward */
static ssize_t trickle(void *ctx, void *buf, size_t size)
{
	struct bytes *b = ctx;
	size_t n = b->size - b->pos < 3 ? b->size - b->pos : 3;
	n = n < size ? n : size;
	memcpy(buf, b->data + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

/* The body of `response` (NUL-terminated in `out`); the last read's result. */
static ssize_t body_of(const char *response, char *out, size_t size, struct lb_error *err)
{
	struct bytes b = {response, strlen(response), 0};
	struct lb_http *h;
	if (lb_http_from_reader(trickle, &b, &h, err) < 0)
		return -1;
	size_t len = 0;
	ssize_t n;
	while ((n = lb_http_read_body(h, out + len, size - 1 - len, err)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	lb_http_free(h);
	return n;
}

static void test_body(void)
{
	char out[256];
	struct lb_error err = {0};
	CHECK(body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", out, sizeof(out), &err) == 0);
	CHECK(!strcmp(out, "hello"));
	CHECK(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
		      out, sizeof(out), &err) == 0);
	CHECK(!strcmp(out, "hello world"));
	CHECK(body_of("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\n\nuntil the end", out, sizeof(out), &err) == 0);
	CHECK(!strcmp(out, "until the end"));
	struct lb_error e1 = {0}, e2 = {0}, e3 = {0};
	CHECK(body_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", out, sizeof(out), &e1) == -ECONNRESET);
	CHECK(strstr(e1.message, "after 5 of 10 bytes") != NULL);
	CHECK(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", out, sizeof(out), &e2) == -EBADMSG);
	CHECK(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX", out, sizeof(out), &e3) < 0);
	struct lb_error e4 = {0};
	CHECK(body_of("HTTP/1.1 200 OK\r\nContent-Length: 1", out, sizeof(out), &e4) == -1 && e4.message[0]);
}

static void test_pull_files(void)
{
	char url[LB_URL_MAX + 1];
	struct lb_error err = {0};
	struct lb_pull_result r = {.known = true}, t;
	CHECK(lb_pull_request_take(unit_dir, url, sizeof(url)) == -ENOENT);
	CHECK(lb_pull_request_write(unit_dir, "gopher://x/", 1, &err) < 0);
	CHECK(lb_pull_request_write(unit_dir, "https://h/b.lifeboat", 1700000000, &err) == 0);
	CHECK(lb_pull_request_take(unit_dir, url, sizeof(url)) == 0 && !strcmp(url, "https://h/b.lifeboat"));
	CHECK(lb_pull_request_take(unit_dir, url, sizeof(url)) == -ENOENT); /* taken once only */
	CHECK(lb_pull_result_load(unit_dir, &t) == 0 && !t.known);
	snprintf(r.result, sizeof(r.result), "failed");
	snprintf(r.code, sizeof(r.code), "read-failed");
	snprintf(r.message, sizeof(r.message), "two\nlines");
	snprintf(r.url, sizeof(r.url), "https://h/b.lifeboat");
	r.time = 1700000001;
	r.target_touched = true;
	r.reconnects = 4;
	CHECK(lb_pull_result_save(unit_dir, &r) == 0);
	CHECK(lb_pull_result_load(unit_dir, &t) == 0 && t.known && !strcmp(t.result, "failed"));
	CHECK(!strcmp(t.message, "two lines") && t.target_touched && t.reconnects == 4 && t.time == 1700000001);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/http/url/parse", test_url},
		{"/http/url/resolve", test_resolve},
		{"/http/response/head", test_head},
		{"/http/response/body", test_body},
		{"/http/pull/files", test_pull_files},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
