/* The multipart/form-data decoder: the file part comes out byte for byte, however the body is
 * split into reads, and malformed or cut bodies end the input early. */
#include "lib/multipart.h"
#include "unit.h"

struct chunks {
	const char *data;
	size_t size, pos, step;
};

static ssize_t chunk_read(void *ctx, void *buf, size_t size)
{
	struct chunks *c = ctx;
	size_t n = c->size - c->pos;
	if (n > c->step)
		n = c->step;
	if (n > size)
		n = size;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	return (ssize_t)n;
}

static const char type[] = "multipart/form-data; boundary=XyZ";
static char content[200000];

static size_t make_body(char *body, size_t cap, bool close)
{
	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char)(i * 7 % 251); /* includes '\r', '\n' and '-' */
	memcpy(content + 5000, "\r\n--XyZ", 6); /* almost a delimiter, inside the content */
	size_t n = (size_t)snprintf(body, cap,
				    "--XyZ\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b\"\r\n"
				    "Content-Type: application/octet-stream\r\n\r\n");
	memcpy(body + n, content, sizeof(content));
	n += sizeof(content);
	if (close)
		n += (size_t)snprintf(body + n, cap - n, "\r\n--XyZ--\r\n");
	return n;
}

static size_t drain(struct lb_input *in, char *out, size_t cap, ssize_t *ret_last)
{
	size_t total = 0;
	for (;;) {
		ssize_t n = in->read(in->ctx, out + total, cap - total < 7777 ? cap - total : 7777);
		*ret_last = n;
		if (n <= 0)
			return total;
		total += (size_t)n;
	}
}

static void test_every_split(void)
{
	static char body[300000], out[300000];
	size_t size = make_body(body, sizeof(body), true);
	size_t steps[] = {1, 2, 5, 13, 100, 4096, 65536, 300000};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct chunks c = {body, size, 0, steps[i]};
		struct lb_input src = {.read = chunk_read, .ctx = &c}, in;
		static struct lb_multipart mp;
		struct lb_error e = {0};
		CHECK(lb_multipart_init(&mp, &src, type, &e) == 0);
		lb_multipart_input(&mp, &in);
		ssize_t last;
		size_t n = drain(&in, out, sizeof(out), &last);
		CHECK(last == 0);
		CHECK(n == sizeof(content));
		CHECK(memcmp(out, content, n) == 0);
	}
}

static void test_cut(void)
{
	static char body[300000], out[300000];
	size_t size = make_body(body, sizeof(body), false);
	struct chunks c = {body, size - 1000, 0, 3000};
	struct lb_input src = {.read = chunk_read, .ctx = &c}, in;
	static struct lb_multipart mp;
	struct lb_error e = {0};
	CHECK(lb_multipart_init(&mp, &src, type, &e) == 0);
	lb_multipart_input(&mp, &in);
	ssize_t last;
	size_t n = drain(&in, out, sizeof(out), &last);
	CHECK(last == 0);
	CHECK(n < sizeof(content) - 1000); /* never more than what arrived */
	CHECK(memcmp(out, content, n) == 0);
}

static void test_bad_types(void)
{
	struct lb_multipart *mp = malloc(sizeof(*mp));
	struct lb_input src = {0};
	struct lb_error e = {0};
	CHECK(mp != NULL);
	CHECK(lb_multipart_init(mp, &src, "application/octet-stream", &e) < 0);
	CHECK(lb_multipart_init(mp, &src, "multipart/form-data", &e) < 0);
	CHECK(lb_multipart_init(mp, &src, "multipart/form-data; boundary=", &e) < 0);
	CHECK(lb_multipart_init(mp, &src, "multipart/form-data; boundary=\"quoted b\"", &e) == 0);
	CHECK(strcmp(mp->delimiter + 4, "quoted b") == 0);
	free(mp);
}

static void test_headers_too_long(void)
{
	static char body[20000];
	size_t n = (size_t)snprintf(body, sizeof(body), "--XyZ\r\nX: ");
	memset(body + n, 'a', 10000);
	n += 10000;
	struct chunks c = {body, n, 0, 512};
	struct lb_input src = {.read = chunk_read, .ctx = &c}, in;
	static struct lb_multipart mp;
	struct lb_error e = {0};
	CHECK(lb_multipart_init(&mp, &src, type, &e) == 0);
	lb_multipart_input(&mp, &in);
	char buf[100];
	CHECK(in.read(in.ctx, buf, sizeof(buf)) < 0);
	CHECK(mp.err.code == LB_E_USAGE);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/multipart/every-split", test_every_split},
		{"/multipart/cut", test_cut},
		{"/multipart/bad-types", test_bad_types},
		{"/multipart/headers-too-long", test_headers_too_long},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
