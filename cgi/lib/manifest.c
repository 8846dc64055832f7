#include "manifest.h"
#include "macro.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

/* A cursor over the manifest text, one line at a time. */
struct line_reader {
	const char *text;
	size_t size, pos;
	unsigned number;
	const char *line; /* current line, not NUL-terminated */
	size_t len;
};

static bool next_line(struct line_reader *r)
{
	if (r->pos >= r->size)
		return false;
	const char *start = r->text + r->pos;
	const char *nl = memchr(start, '\n', r->size - r->pos);
	if (!nl)
		return false; /* every line, the last included, ends in '\n' */
	r->line = start;
	r->len = (size_t)(nl - start);
	r->pos += r->len + 1;
	r->number++;
	return true;
}

static bool char_in_token(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._+:~-", c);
}

bool lb_token_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > LB_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!char_in_token(s[i]))
			return false;
	return true;
}

/* Splits "key value" where key matches exactly; the value follows one space. */
static bool take_key(const struct line_reader *r, const char *key, const char **ret_value, size_t *ret_len)
{
	size_t klen = strlen(key);
	if (r->len < klen + 1 || memcmp(r->line, key, klen) != 0 || r->line[klen] != ' ')
		return false;
	*ret_value = r->line + klen + 1;
	*ret_len = r->len - klen - 1;
	return true;
}

static int fail(struct line_reader *r, struct lb_error *err, const char *what)
{
	return lb_error_set(err, EBADMSG, LB_E_MANIFEST_INVALID,
			    "manifest line %u: %s. The bundle is damaged or was not made by lifeboat-bundle: "
			    "build it again",
			    r->number, what);
}

static int expect_token(struct line_reader *r, const char *key, char *ret, struct lb_error *err)
{
	const char *v;
	size_t n;
	if (!next_line(r) || !take_key(r, key, &v, &n))
		return fail(r, err, key);
	if (n == 0 || n > LB_TOKEN_MAX)
		return fail(r, err, "value length out of range");
	for (size_t i = 0; i < n; i++)
		if (!char_in_token(v[i]))
			return fail(r, err, "character not allowed in value");
	memcpy(ret, v, n);
	ret[n] = '\0';
	return 0;
}

/* Decimal without sign, leading zeros or overflow. */
static bool parse_u64(const char *v, size_t n, uint64_t *ret)
{
	if (n == 0 || n > 20 || (n > 1 && v[0] == '0'))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*ret = x;
	return true;
}

static int expect_u64(struct line_reader *r, const char *key, uint64_t *ret, struct lb_error *err)
{
	const char *v;
	size_t n;
	if (!next_line(r) || !take_key(r, key, &v, &n))
		return fail(r, err, key);
	if (!parse_u64(v, n, ret))
		return fail(r, err, "not a decimal number");
	return 0;
}

/* Exactly `n` lowercase hex digits, as a number. */
static bool parse_hex32(const char *v, size_t n, uint32_t *ret)
{
	uint32_t x = 0;
	if (n != 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = v[i] >= '0' && v[i] <= '9' ? v[i] - '0' : v[i] >= 'a' && v[i] <= 'f' ? v[i] - 'a' + 10 : -1;
		if (d < 0)
			return false;
		x = x << 4 | (uint32_t)d;
	}
	*ret = x;
	return true;
}

/* Format 2's third field: "KEY8@OFFSET", or "-" for a chunk without a non-zero whole block. */
static int parse_anchor(struct line_reader *r, const char *v, size_t n, uint32_t length, struct lb_chunk *c,
			struct lb_error *err)
{
	if (n == 1 && v[0] == '-')
		return 0;
	uint64_t offset;
	if (n < 10 || v[8] != '@' || !parse_hex32(v, 8, &c->anchor_key) || !parse_u64(v + 9, n - 9, &offset))
		return fail(r, err, "chunk anchor is not '<8 hex digits>@<offset>' or '-'");
	if (offset % 4096 != 0 || length < 4096 || offset > length - 4096)
		return fail(r, err, "chunk anchor offset is not a whole 4 KiB block of the chunk");
	c->has_anchor = true;
	c->anchor_offset = (uint32_t)offset;
	return 0;
}

static int parse_chunk_line(struct line_reader *r, unsigned format, const struct lb_image *img, uint32_t index,
			    struct lb_chunk *c, struct lb_error *err)
{
	if (!next_line(r))
		return fail(r, err, "chunk list ends early");
	if (r->len == 4 && memcmp(r->line, "zero", 4) == 0) {
		c->compressed_size = 0;
		memset(c->sha256, 0, sizeof(c->sha256));
		return 0;
	}
	if (r->len < LB_SHA256_HEX_SIZE + 2 || r->line[LB_SHA256_HEX_SIZE] != ' ')
		return fail(r, err,
			    format == 1 ? "chunk line is not '<sha256> <compressed size>' or 'zero'"
					: "chunk line is not '<sha256> <compressed size> <anchor>' or 'zero'");
	if (!lb_hex_decode(r->line, LB_SHA256_HEX_SIZE, c->sha256, LB_SHA256_SIZE))
		return fail(r, err, "chunk hash is not 64 lowercase hex digits");
	const char *size_text = r->line + LB_SHA256_HEX_SIZE + 1;
	size_t size_len = r->len - LB_SHA256_HEX_SIZE - 1;
	if (format >= 2) {
		const char *sp = memchr(size_text, ' ', size_len);
		if (!sp)
			return fail(r, err, "chunk line has no anchor (format 2: '<sha256> <compressed size> <anchor>')");
		int rc = parse_anchor(r, sp + 1, size_len - (size_t)(sp + 1 - size_text),
				      lb_image_chunk_length(img, index), c, err);
		if (rc < 0)
			return rc;
		size_len = (size_t)(sp - size_text);
	}
	uint64_t csize;
	if (!parse_u64(size_text, size_len, &csize))
		return fail(r, err, "chunk compressed size is not a decimal number");
	/* A frame is never larger than zstd's bound for its content: anything more is a lie that
	 * would make the receiver buffer data for nothing. */
	if (csize == 0 || csize > ZSTD_compressBound(img->chunk_size))
		return fail(r, err, "chunk compressed size out of range");
	c->compressed_size = (uint32_t)csize;
	return 0;
}

static int parse_image(struct line_reader *r, struct lb_manifest *m, unsigned *chunks_total,
		       struct lb_error *err)
{
	struct lb_image *img = &m->images[m->image_count];
	const char *v;
	size_t n;
	uint64_t x;
	int rc;

	if ((rc = expect_token(r, "image", img->role, err)) < 0)
		return rc;
	for (unsigned i = 0; i < m->image_count; i++)
		if (strcmp(m->images[i].role, img->role) == 0)
			return fail(r, err, "image role appears twice");
	if ((rc = expect_token(r, "fstype", img->fstype, err)) < 0)
		return rc;
	if ((rc = expect_u64(r, "size", &img->size, err)) < 0)
		return rc;
	if (img->size == 0)
		return fail(r, err, "image size is zero");
	if (!next_line(r) || !take_key(r, "sha256", &v, &n) || !lb_hex_decode(v, n, img->sha256, LB_SHA256_SIZE))
		return fail(r, err, "sha256 (64 lowercase hex digits)");
	if ((rc = expect_u64(r, "chunk-size", &x, err)) < 0)
		return rc;
	if (x < LB_CHUNK_SIZE_MIN || x > LB_CHUNK_SIZE_MAX || (x & (x - 1)) != 0)
		return fail(r, err, "chunk size is not a power of two from 64 KiB to 16 MiB");
	img->chunk_size = (uint32_t)x;
	if ((rc = expect_u64(r, "chunks", &x, err)) < 0)
		return rc;
	/* The count is redundant with the size on purpose: the two must agree, and the count is
	 * checked against the cap before anything is allocated. */
	if (x != (img->size + img->chunk_size - 1) / img->chunk_size)
		return fail(r, err, "chunk count does not match size and chunk size");
	if (x > LB_CHUNKS_MAX - *chunks_total)
		return fail(r, err, "too many chunks (the cap is 65536 for a whole bundle)");
	img->chunk_count = (uint32_t)x;
	*chunks_total += img->chunk_count;

	img->chunks = calloc(img->chunk_count, sizeof(*img->chunks));
	if (!img->chunks)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for %u chunks", img->chunk_count);
	m->image_count++; /* from here on lb_manifest_free owns img->chunks */

	img->payload_size = 0;
	for (uint32_t i = 0; i < img->chunk_count; i++) {
		if ((rc = parse_chunk_line(r, m->format, img, i, &img->chunks[i], err)) < 0)
			return rc;
		img->payload_size += img->chunks[i].compressed_size;
	}
	m->payload_size += img->payload_size;
	return 0;
}

int lb_manifest_parse(const char *text, size_t size, struct lb_manifest *ret, struct lb_error *err)
{
	struct line_reader r = {.text = text, .size = size};
	struct lb_manifest m = {0};
	const char *v;
	size_t n;
	uint64_t x;
	unsigned chunks_total = 0;
	int rc;

	if (size > LB_MANIFEST_SIZE_MAX)
		return lb_error_set(err, EFBIG, LB_E_MANIFEST_INVALID,
				    "manifest is %zu bytes, over the cap of %u: not a bundle this device accepts",
				    size, LB_MANIFEST_SIZE_MAX);
	/* Only printable ASCII and '\n': no NULs, no CR, nothing a terminal or a JSON string would
	 * have to escape specially. */
	for (size_t i = 0; i < size; i++)
		if (text[i] != '\n' && (text[i] < 0x20 || text[i] > 0x7e)) {
			lb_error_set(err, EBADMSG, LB_E_MANIFEST_INVALID,
				     "manifest byte %zu is not printable ASCII: the bundle is damaged", i);
			return -EBADMSG;
		}

	if ((rc = expect_u64(&r, "lifeboat-manifest", &x, err)) < 0)
		goto fail;
	if (x < LB_FORMAT_VERSION_MIN || x > LB_FORMAT_VERSION) {
		rc = lb_error_set(err, EPROTO, LB_E_FORMAT_VERSION,
				  "manifest format %" PRIu64 " is not known to this recovery (it reads formats %d to "
				  "%d): update the recovery or build the bundle with a matching lifeboat-bundle",
				  x, LB_FORMAT_VERSION_MIN, LB_FORMAT_VERSION);
		goto fail;
	}
	m.format = (unsigned)x;
	if ((rc = expect_token(&r, "compatible", m.compatible, err)) < 0 ||
	    (rc = expect_token(&r, "version", m.version, err)) < 0)
		goto fail;
	if (!next_line(&r) || !take_key(&r, "description", &v, &n) || n > LB_DESCRIPTION_MAX) {
		rc = fail(&r, err, "description (at most 256 characters)");
		goto fail;
	}
	memcpy(m.description, v, n);
	m.description[n] = '\0';
	if ((rc = expect_u64(&r, "build-time", &m.build_time, err)) < 0 ||
	    (rc = expect_token(&r, "min-recovery-version", m.min_recovery_version, err)) < 0)
		goto fail;

	for (;;) {
		struct line_reader peek = r;
		if (!next_line(&peek)) {
			rc = fail(&peek, err, "missing 'end'");
			goto fail;
		}
		if (peek.len == 3 && memcmp(peek.line, "end", 3) == 0) {
			r = peek;
			break;
		}
		if (m.image_count == LB_IMAGES_MAX) {
			rc = fail(&peek, err, "more than 8 images");
			goto fail;
		}
		if ((rc = parse_image(&r, &m, &chunks_total, err)) < 0)
			goto fail;
	}
	if (m.image_count == 0) {
		rc = fail(&r, err, "no image");
		goto fail;
	}
	if (r.pos != size) {
		rc = fail(&r, err, "text after 'end'");
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	lb_manifest_free(&m);
	return rc;
}

int lb_manifest_format(const struct lb_manifest *m, char **ret_text, size_t *ret_size)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;

	fprintf(f, "lifeboat-manifest %d\ncompatible %s\nversion %s\ndescription %s\nbuild-time %" PRIu64
		   "\nmin-recovery-version %s\n",
		m->format, m->compatible, m->version, m->description, m->build_time,
		m->min_recovery_version);
	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		char hex[LB_SHA256_HEX_SIZE + 1];
		lb_hex_encode(img->sha256, LB_SHA256_SIZE, hex);
		fprintf(f, "image %s\nfstype %s\nsize %" PRIu64 "\nsha256 %s\nchunk-size %u\nchunks %u\n",
			img->role, img->fstype, img->size, hex, img->chunk_size, img->chunk_count);
		for (uint32_t c = 0; c < img->chunk_count; c++) {
			if (img->chunks[c].compressed_size == 0) {
				fputs("zero\n", f);
				continue;
			}
			const struct lb_chunk *ch = &img->chunks[c];
			lb_hex_encode(ch->sha256, LB_SHA256_SIZE, hex);
			fprintf(f, "%s %u", hex, ch->compressed_size);
			if (m->format >= 2 && ch->has_anchor)
				fprintf(f, " %08x@%u\n", ch->anchor_key, ch->anchor_offset);
			else
				fputs(m->format >= 2 ? " -\n" : "\n", f);
		}
	}
	fputs("end\n", f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	*ret_size = size;
	return 0;
}

void lb_manifest_free(struct lb_manifest *m)
{
	for (unsigned i = 0; i < m->image_count; i++) {
		free(m->images[i].chunks);
		m->images[i].chunks = NULL;
	}
	m->image_count = 0;
}

uint32_t lb_image_chunk_length(const struct lb_image *img, uint32_t index)
{
	uint64_t start = (uint64_t)index * img->chunk_size;
	uint64_t left = img->size - start;
	return left < img->chunk_size ? (uint32_t)left : img->chunk_size;
}
