/* The manifest grammar: what parses, what is refused, and that format and parse agree. */
#include "lib/manifest.h"
#include "unit.h"

static const char good[] = "lifeboat-manifest 1\n"
			   "compatible test-board\n"
			   "version 2.0.1\n"
			   "description A test bundle\n"
			   "build-time 1700000000\n"
			   "min-recovery-version 0.1\n"
			   "image rootfs\n"
			   "fstype ext4\n"
			   "size 200000\n"
			   "sha256 0000000000000000000000000000000000000000000000000000000000000000\n"
			   "chunk-size 65536\n"
			   "chunks 4\n"
			   "1111111111111111111111111111111111111111111111111111111111111111 100\n"
			   "zero\n"
			   "2222222222222222222222222222222222222222222222222222222222222222 200\n"
			   "zero\n"
			   "end\n";

/* The same bundle in format 2: each non-zero chunk with its anchor. */
static const char good2[] = "lifeboat-manifest 2\n"
			    "compatible test-board\n"
			    "version 2.0.1\n"
			    "description A test bundle\n"
			    "build-time 1700000000\n"
			    "min-recovery-version 0.1\n"
			    "image rootfs\n"
			    "fstype ext4\n"
			    "size 200000\n"
			    "sha256 0000000000000000000000000000000000000000000000000000000000000000\n"
			    "chunk-size 65536\n"
			    "chunks 4\n"
			    "1111111111111111111111111111111111111111111111111111111111111111 100 0badcafe@4096\n"
			    "zero\n"
			    "2222222222222222222222222222222222222222222222222222222222222222 200 -\n"
			    "zero\n"
			    "end\n";

static int parse(const char *text, struct lb_manifest *m, struct lb_error *e)
{
	*e = (struct lb_error){0};
	return lb_manifest_parse(text, strlen(text), m, e);
}

/* Replaces the first occurrence of `from` in manifest `base` with `to` and parses it. */
static enum lb_code parse_edited_in(const char *base, const char *from, const char *to)
{
	char text[4096];
	const char *at = strstr(base, from);
	if (!at)
		return _LB_CODE_MAX;
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	struct lb_manifest m;
	struct lb_error e;
	if (parse(text, &m, &e) == 0) {
		lb_manifest_free(&m);
		return LB_OK;
	}
	return e.code;
}

static enum lb_code parse_edited(const char *from, const char *to)
{
	return parse_edited_in(good, from, to);
}

static void test_parse_good(void)
{
	struct lb_manifest m;
	struct lb_error e;
	CHECK(parse(good, &m, &e) == 0);
	CHECK(strcmp(m.compatible, "test-board") == 0);
	CHECK(strcmp(m.version, "2.0.1") == 0);
	CHECK(strcmp(m.description, "A test bundle") == 0);
	CHECK(m.build_time == 1700000000);
	CHECK(m.image_count == 1);
	CHECK(m.images[0].size == 200000);
	CHECK(m.images[0].chunk_count == 4);
	CHECK(m.images[0].chunks[1].compressed_size == 0);
	CHECK(m.images[0].chunks[2].compressed_size == 200);
	CHECK(m.images[0].payload_size == 300);
	CHECK(m.payload_size == 300);
	CHECK(lb_image_chunk_length(&m.images[0], 3) == 200000 - 3 * 65536);
	lb_manifest_free(&m);
}

static void test_roundtrip(void)
{
	struct lb_manifest m;
	struct lb_error e;
	char *text;
	size_t size;
	CHECK(parse(good, &m, &e) == 0);
	CHECK(lb_manifest_format(&m, &text, &size) == 0);
	CHECK(size == strlen(good));
	CHECK(memcmp(text, good, size) == 0);
	free(text);
	lb_manifest_free(&m);
}

static void test_format2(void)
{
	struct lb_manifest m;
	struct lb_error e;
	char *text;
	size_t size;
	CHECK(parse(good2, &m, &e) == 0);
	CHECK(m.format == 2);
	CHECK(m.images[0].chunks[0].has_anchor);
	CHECK(m.images[0].chunks[0].anchor_key == 0x0badcafe);
	CHECK(m.images[0].chunks[0].anchor_offset == 4096);
	CHECK(m.images[0].chunks[0].compressed_size == 100);
	CHECK(!m.images[0].chunks[2].has_anchor);
	CHECK(m.images[0].chunks[2].compressed_size == 200);
	CHECK(lb_manifest_format(&m, &text, &size) == 0);
	CHECK(size == strlen(good2) && memcmp(text, good2, size) == 0);
	free(text);
	lb_manifest_free(&m);

	/* each format has its own chunk line */
	CHECK(parse_edited("lifeboat-manifest 1", "lifeboat-manifest 2") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "lifeboat-manifest 2", "lifeboat-manifest 1") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, " 100 0badcafe@4096", " 100") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0BADCAFE@4096") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "badcafe@4096") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@4095") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@61440") == LB_OK);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@65536") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@04096") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, "0badcafe@4096", "0badcafe@4096 x") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, " 200 -", " 200 --") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited_in(good2, " 200 -", " 200 ") == LB_E_MANIFEST_INVALID);
	/* the last chunk is 3392 bytes: no whole 4 KiB block to anchor on */
	const char *x64 = "3333333333333333333333333333333333333333333333333333333333333333";
	char last[128];
	snprintf(last, sizeof(last), "200 -\n%s 50 -\nend", x64);
	CHECK(parse_edited_in(good2, "200 -\nzero\nend", last) == LB_OK);
	snprintf(last, sizeof(last), "200 -\n%s 50 00000001@0\nend", x64);
	CHECK(parse_edited_in(good2, "200 -\nzero\nend", last) == LB_E_MANIFEST_INVALID);
}

static void test_refusals(void)
{
	CHECK(parse_edited("lifeboat-manifest 1", "lifeboat-manifest 3") == LB_E_FORMAT_VERSION);
	CHECK(parse_edited("lifeboat-manifest 1", "lifeboat-manifest 01") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("compatible test-board", "compatible test board") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("compatible test-board", "compatible ") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("version 2.0.1\n", "") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("size 200000", "size 200001") == LB_OK); /* still 4 chunks */
	CHECK(parse_edited("size 200000", "size 300000") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("size 200000", "size 0") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("size 200000", "size 99999999999999999999") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("chunk-size 65536", "chunk-size 65537") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("chunk-size 65536", "chunk-size 32768") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("chunks 4", "chunks 5") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited(" 100\n", " 0\n") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited(" 100\n", " 999999\n") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("1111111111111111", "111111111111111X") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("1111111111111111", "AAAAAAAAAAAAAAAA") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("end\n", "") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("end\n", "end") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("end\n", "end\nmore\n") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("A test", "A\ttest") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("A test", "A\rtest") == LB_E_MANIFEST_INVALID);
	CHECK(parse_edited("zero\nend", "zero\nzero\nend") == LB_E_MANIFEST_INVALID);
}

static void test_duplicate_role(void)
{
	char text[8192];
	const char *image = strstr(good, "image rootfs");
	size_t head = (size_t)(image - good), body = strlen(image) - 4; /* without "end\n" */
	snprintf(text, sizeof(text), "%.*s%.*s%s", (int)(head + body), good, (int)body, image, "end\n");
	struct lb_manifest m;
	struct lb_error e;
	CHECK(parse(text, &m, &e) < 0);
	CHECK(e.code == LB_E_MANIFEST_INVALID);
	CHECK(strstr(e.message, "twice") != NULL);
}

static void test_too_many_chunks(void)
{
	/* 2^40 bytes in 64 KiB chunks is 16 Mi chunks: refused before anything is allocated. */
	CHECK(parse_edited("size 200000\nsha256 0000000000000000000000000000000000000000000000000000000000000000\n"
			   "chunk-size 65536\nchunks 4",
			   "size 1099511627776\nsha256 0000000000000000000000000000000000000000000000000000000000000000\n"
			   "chunk-size 65536\nchunks 16777216") == LB_E_MANIFEST_INVALID);
}

static void test_over_cap(void)
{
	size_t size = LB_MANIFEST_SIZE_MAX + 1;
	char *big = malloc(size);
	CHECK(big != NULL);
	memset(big, 'a', size);
	struct lb_manifest m;
	struct lb_error e = {0};
	int r = lb_manifest_parse(big, size, &m, &e);
	free(big);
	CHECK(r < 0);
	CHECK(e.code == LB_E_MANIFEST_INVALID);
}

static void test_tokens(void)
{
	CHECK(lb_token_valid("bluerobotics-navigator_pi4:1.0~rc1+x"));
	CHECK(!lb_token_valid(""));
	CHECK(!lb_token_valid("a b"));
	CHECK(!lb_token_valid("a/b"));
	char long_token[LB_TOKEN_MAX + 2];
	memset(long_token, 'a', sizeof(long_token) - 1);
	long_token[LB_TOKEN_MAX + 1] = '\0';
	CHECK(!lb_token_valid(long_token));
	long_token[LB_TOKEN_MAX] = '\0';
	CHECK(lb_token_valid(long_token));
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/manifest/parse/good", test_parse_good},
		{"/manifest/format/roundtrip", test_roundtrip},
		{"/manifest/parse/refusals", test_refusals},
		{"/manifest/format2", test_format2},
		{"/manifest/parse/duplicate-role", test_duplicate_role},
		{"/manifest/parse/too-many-chunks", test_too_many_chunks},
		{"/manifest/parse/over-cap", test_over_cap},
		{"/manifest/tokens", test_tokens},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
