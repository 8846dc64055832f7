/* Resume sessions: where each chunk's frame begins, the session files (round trip, a header
 * file of another bundle, matching a client's header), the Content-Range parser, and the
 * installer cut and resumed in-process onto a plain file, to a read-back-verified image. */
#include "lib/content-range.h"
#include "lib/create.h"
#include "lib/install.h"
#include "lib/io.h"
#include "lib/session.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>

static char *bundle_data;
static size_t bundle_size;

/* An image with random-looking data, a zero region (zero chunks carry no frame) and a short
 * last chunk, in 64 KiB chunks, signed with a fresh key. */
static int make_bundle(const char *image, size_t size, const char *version)
{
	struct lb_error e = {0};
	if (access(unit_path("k.pem"), F_OK) != 0 &&
	    lb_key_generate(unit_path("k.pem"), unit_path("k.pub.pem"), &e) < 0)
		return -1;
	int fd = open(unit_path(image), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	unsigned seed = (unsigned)version[0];
	for (size_t off = 0; off < size; off++) {
		uint8_t b = off > size / 3 && off < size / 2 ? 0 : (uint8_t)rand_r(&seed);
		(void)!write(fd, &b, 1);
	}
	close(fd);
	struct lb_image_source src = {"rootfs", unit_path(image)};
	struct lb_create_options opt = {
	    .key_path = unit_path("k.pem"),
	    .compatible = "unit",
	    .version = version,
	    .min_recovery_version = "0",
	    .images = &src,
	    .image_count = 1,
	    .chunk_size = 65536,
	    .level = 1,
	    .output = unit_path("bundle"),
	};
	if (lb_bundle_create(&opt, &e) < 0)
		return -1;
	free(bundle_data);
	return lb_read_file(unit_path("bundle"), 64u << 20, &bundle_data, &bundle_size);
}

static int read_header(struct lb_bundle_header *h)
{
	struct lb_input_buffer b = {.data = bundle_data, .size = bundle_size};
	struct lb_input in;
	struct lb_error e = {0};
	lb_input_init_buffer(&in, &b);
	int r = lb_bundle_read_header(&in, h, &e);
	return r < 0 ? r : lb_bundle_header_parse(h, &e);
}

static void test_offsets(void)
{
	CHECK(make_bundle("image", 700000, "1") == 0);
	struct lb_bundle_header h = {0};
	CHECK(read_header(&h) == 0);
	const struct lb_image *img = &h.manifest.images[0];
	uint32_t n = lb_manifest_chunk_count(&h.manifest);
	CHECK(n == 11); /* ceil(700000 / 65536) */
	CHECK(lb_bundle_chunk_offset(&h, 0) == h.header_size);
	CHECK(lb_bundle_chunk_offset(&h, n) == bundle_size);
	bool saw_zero = false;
	for (uint32_t c = 0; c < n; c++) {
		uint64_t at = lb_bundle_chunk_offset(&h, c), next = lb_bundle_chunk_offset(&h, c + 1);
		CHECK(next - at == img->chunks[c].compressed_size);
		saw_zero |= img->chunks[c].compressed_size == 0;
		/* a non-zero chunk's frame starts with the zstd magic */
		if (img->chunks[c].compressed_size)
			CHECK(memcmp(bundle_data + at, "\x28\xb5\x2f\xfd", 4) == 0);
	}
	CHECK(saw_zero);
	uint8_t *bytes;
	size_t size;
	CHECK(lb_bundle_header_bytes(&h, &bytes, &size) == 0);
	CHECK(size == h.header_size && memcmp(bytes, bundle_data, size) == 0);
	free(bytes);
	lb_bundle_header_free(&h);
}

static void test_roundtrip(void)
{
	CHECK(make_bundle("image", 700000, "1") == 0);
	struct lb_bundle_header h = {0};
	struct lb_session s, t;
	struct lb_error e = {0};
	CHECK(read_header(&h) == 0);
	CHECK(lb_session_load(unit_dir, &t, &e) == -ENOENT);
	CHECK(lb_session_begin(unit_dir, &h, 3, &s) == 0);
	CHECK(lb_session_advance(unit_dir, &s, &h, 5) == 0);
	CHECK(lb_session_load(unit_dir, &t, &e) == 0);
	CHECK(t.next_chunk == 5 && t.chunk_count == 11 && t.bundle_size == bundle_size);
	CHECK(t.resume_offset == lb_bundle_chunk_offset(&h, 5) && t.header_size == h.header_size);
	CHECK(memcmp(t.manifest_sha256, s.manifest_sha256, LB_SHA256_SIZE) == 0);
	CHECK(strcmp(t.version, "1") == 0 && strcmp(t.compatible, "unit") == 0);
	CHECK(lb_session_matches(&t, (const uint8_t *)bundle_data, bundle_size));
	CHECK(lb_session_matches(&t, (const uint8_t *)bundle_data, h.header_size));
	CHECK(!lb_session_matches(&t, (const uint8_t *)bundle_data, h.header_size - 1));
	bundle_data[40] ^= 1;
	CHECK(!lb_session_matches(&t, (const uint8_t *)bundle_data, bundle_size));
	bundle_data[40] ^= 1;
	lb_session_free(&t);
	lb_session_free(&s);
	lb_session_discard(unit_dir);
	CHECK(lb_session_load(unit_dir, &t, &e) == -ENOENT);
	lb_bundle_header_free(&h);
}

static void test_inconsistent(void)
{
	CHECK(make_bundle("image", 700000, "1") == 0);
	struct lb_bundle_header h = {0};
	struct lb_session s, t;
	struct lb_error e = {0};
	CHECK(read_header(&h) == 0);
	CHECK(lb_session_begin(unit_dir, &h, 2, &s) == 0);
	lb_session_free(&s);
	/* the header file of another bundle under the keys of this one */
	char *header;
	size_t size;
	CHECK(lb_read_file(unit_path(LB_SESSION_HEADER_FILE), 1u << 20, &header, &size) == 0);
	header[30] ^= 1;
	CHECK(lb_write_file_atomic(unit_path(LB_SESSION_HEADER_FILE), header, size, 0644) == 0);
	free(header);
	CHECK(lb_session_load(unit_dir, &t, &e) == -EBADMSG);
	CHECK(strstr(e.message, "another bundle") != NULL);
	/* a resume point beyond the bundle */
	CHECK(lb_write_file_atomic(unit_path(LB_SESSION_FILE), "manifest_sha256=00\n", 19, 0644) == 0);
	e = (struct lb_error){0};
	CHECK(lb_session_load(unit_dir, &t, &e) == -EBADMSG);
	lb_bundle_header_free(&h);
}

static bool range(const char *text, uint64_t first, uint64_t last, uint64_t total)
{
	struct lb_content_range r;
	return lb_content_range_parse(text, strlen(text), &r) && r.first == first && r.last == last &&
	       r.total == total;
}

static bool bad_range(const char *text)
{
	struct lb_content_range r;
	return !lb_content_range_parse(text, strlen(text), &r);
}

static void test_content_range(void)
{
	CHECK(range("bytes 100-999/1000", 100, 999, 1000));
	CHECK(range("bytes 0-0/1", 0, 0, 1));
	CHECK(range("bytes 18446744073709551613-18446744073709551614/18446744073709551615",
		    18446744073709551613ull, 18446744073709551614ull, 18446744073709551615ull));
	CHECK(bad_range("bytes 100-999/999"));	 /* last beyond the end */
	CHECK(bad_range("bytes 1000-999/2000")); /* first after last */
	CHECK(bad_range("bytes */1000"));
	CHECK(bad_range("bytes 01-999/1000"));
	CHECK(bad_range("bytes 1-999/1000 "));
	CHECK(bad_range("bytes  1-999/1000"));
	CHECK(bad_range("bytes 1-2,4-5/1000"));
	CHECK(bad_range("Bytes 1-999/1000"));
	CHECK(bad_range("bytes 1-999/"));
	CHECK(bad_range("bytes 1-999/18446744073709551616"));
	CHECK(bad_range("bytes -1-999/1000"));
	CHECK(bad_range(""));
}

/* ---- the installer, cut and resumed ---- */

struct cut_input {
	const uint8_t *data;
	size_t pos, end;
};

static ssize_t cut_read(void *ctx, void *buf, size_t size)
{
	struct cut_input *c = ctx;
	size_t n = c->end - c->pos < size ? c->end - c->pos : size;
	if (n > 5000)
		n = 5000;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	return (ssize_t)n;
}

static bool target_matches(const char *image)
{
	char *a, *b;
	size_t na, nb;
	if (lb_read_file(unit_path(image), 64u << 20, &a, &na) < 0)
		return false;
	if (lb_read_file(unit_path("target"), 64u << 20, &b, &nb) < 0) {
		free(a);
		return false;
	}
	bool same = nb >= na && memcmp(a, b, na) == 0;
	free(a);
	free(b);
	return same;
}

struct fixture {
	struct lb_keyring *keys;
	struct lb_target_spec spec;
	struct lb_install_options opt;
};

static void fixture_init(struct fixture *f)
{
	struct lb_error e = {0};
	int fd = open(unit_path("target"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)!ftruncate(fd, 1 << 20);
	close(fd);
	lb_keyring_load(unit_path("k.pub.pem"), &f->keys, &e);
	f->spec = (struct lb_target_spec){"rootfs", unit_path("target")};
	f->opt = (struct lb_install_options){.keyring = f->keys,
					     .compatible = "unit",
					     .targets = &f->spec,
					     .target_count = 1,
					     .readback = true,
					     .threads = 2,
					     .session_dir = unit_dir};
}

/* Installs bundle bytes [from, to) fresh (from 0) or resuming the session. */
static int run(struct fixture *f, const char *data, size_t from, size_t to, struct lb_install_result *res,
	       struct lb_error *e)
{
	struct cut_input c = {.data = (const uint8_t *)data, .pos = from, .end = to};
	struct lb_input in = {.read = cut_read, .ctx = &c};
	struct lb_session s = {0};
	struct lb_install_options opt = f->opt;
	*e = (struct lb_error){0};
	if (from > 0) {
		if (lb_session_load(unit_dir, &s, e) < 0)
			return -ENOENT;
		c.pos = s.resume_offset;
		opt.resume = &s;
	}
	int r = lb_install(&in, &opt, res, e);
	lb_session_free(&s);
	return r;
}

static void test_cut_and_resume(void)
{
	CHECK(make_bundle("image", 700000, "1") == 0);
	struct fixture f;
	fixture_init(&f);
	struct lb_install_result res;
	struct lb_error e;
	struct lb_session s;
	/* cut in the payload at several points, each resumed once, one resumed and cut again */
	size_t cuts[] = {2000, bundle_size / 4, bundle_size / 2, bundle_size - 10};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		CHECK(run(&f, bundle_data, 0, cuts[i], &res, &e) < 0);
		CHECK(e.code == LB_E_TRUNCATED && res.resumable && res.target_touched);
		CHECK(res.resume_offset <= cuts[i]);
		CHECK(lb_session_load(unit_dir, &s, &e) == 0);
		CHECK(s.resume_offset == res.resume_offset && s.next_chunk == res.next_chunk);
		lb_session_free(&s);
		if (i == 1) {
			uint64_t before = res.resume_offset;
			CHECK(run(&f, bundle_data, 1, bundle_size * 3 / 4, &res, &e) < 0);
			CHECK(e.code == LB_E_TRUNCATED && res.resumable && res.resume_offset > before);
		}
		CHECK(run(&f, bundle_data, 1, bundle_size, &res, &e) == 0);
		CHECK(target_matches("image"));
		CHECK(lb_session_load(unit_dir, &s, &e) == -ENOENT); /* done: no session */
	}
	lb_keyring_free(f.keys);
}

static void test_resume_refused(void)
{
	CHECK(make_bundle("image", 700000, "1") == 0);
	struct fixture f;
	fixture_init(&f);
	struct lb_install_result res;
	struct lb_error e;
	struct lb_session s;
	/* a tampered chunk after the resume point: the chunk-hash error, and no session */
	CHECK(run(&f, bundle_data, 0, bundle_size / 3, &res, &e) < 0 && res.resumable);
	bundle_data[bundle_size - 3000] ^= 1;
	CHECK(run(&f, bundle_data, 1, bundle_size, &res, &e) < 0);
	CHECK(e.code == LB_E_CHUNK_CORRUPT && !res.resumable && res.target_touched);
	CHECK(lb_session_load(unit_dir, &s, &e) == -ENOENT);
	bundle_data[bundle_size - 3000] ^= 1;
	/* the stored header is checked again: a device that no longer trusts the key refuses it */
	CHECK(run(&f, bundle_data, 0, bundle_size / 3, &res, &e) < 0 && res.resumable);
	struct lb_keyring *trusted = f.keys;
	f.opt.keyring = NULL;
	CHECK(run(&f, bundle_data, 1, bundle_size, &res, &e) < 0);
	CHECK(e.code == LB_E_UNKNOWN_KEY && res.target_touched);
	CHECK(lb_session_load(unit_dir, &s, &e) == -ENOENT);
	f.opt.keyring = trusted;
	/* a fresh install discards the session of another */
	CHECK(run(&f, bundle_data, 0, bundle_size / 3, &res, &e) < 0 && res.resumable);
	CHECK(run(&f, "not a bundle at all", 0, 19, &res, &e) < 0 && e.code == LB_E_NOT_A_BUNDLE);
	CHECK(lb_session_load(unit_dir, &s, &e) == -ENOENT);
	lb_keyring_free(f.keys);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/session/chunk-offsets", test_offsets},
	    {"/session/roundtrip", test_roundtrip},
	    {"/session/inconsistent", test_inconsistent},
	    {"/session/content-range", test_content_range},
	    {"/session/install/cut-and-resume", test_cut_and_resume},
	    {"/session/install/refused", test_resume_refused},
	};
	int r = unit_main(tests, sizeof(tests) / sizeof(tests[0]));
	free(bundle_data);
	return r;
}
