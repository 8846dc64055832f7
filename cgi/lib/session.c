#include "session.h"
#include "io.h"
#include "json.h"
#include "macro.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

uint32_t lb_manifest_chunk_count(const struct lb_manifest *m)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < m->image_count; i++)
		n += m->images[i].chunk_count;
	return n;
}

uint64_t lb_bundle_chunk_offset(const struct lb_bundle_header *h, uint32_t chunk)
{
	const struct lb_manifest *m = &h->manifest;
	uint64_t offset = h->header_size;
	for (unsigned i = 0; i < m->image_count && chunk > 0; i++) {
		const struct lb_image *img = &m->images[i];
		if (chunk >= img->chunk_count) {
			offset += img->payload_size;
			chunk -= img->chunk_count;
			continue;
		}
		for (uint32_t c = 0; c < chunk; c++)
			offset += img->chunks[c].compressed_size;
		chunk = 0;
	}
	return offset;
}

int lb_bundle_header_bytes(const struct lb_bundle_header *h, uint8_t **ret, size_t *ret_size)
{
	uint8_t *b = malloc(h->header_size);
	if (!b)
		return -ENOMEM;
	lb_bundle_preamble(b, h->format, (uint32_t)h->manifest_size, h->signed_);
	memcpy(b + LB_BUNDLE_PREAMBLE_SIZE, h->manifest_text, h->manifest_size);
	if (h->signed_)
		memcpy(b + LB_BUNDLE_PREAMBLE_SIZE + h->manifest_size, h->signature, LB_SIGNATURE_BLOCK_SIZE);
	*ret = b;
	*ret_size = h->header_size;
	return 0;
}

static void session_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static int save_keys(const char *dir, struct lb_session *s)
{
	char path[4096], hex[LB_SHA256_HEX_SIZE + 1], text[1024];
	s->updated = (int64_t)time(NULL);
	lb_hex_encode(s->manifest_sha256, LB_SHA256_SIZE, hex);
	int n = snprintf(text, sizeof(text),
			 "manifest_sha256=%s\nbundle_size=%" PRIu64 "\nheader_size=%" PRIu64
			 "\nchunks=%" PRIu32 "\nnext_chunk=%" PRIu32 "\nresume_offset=%" PRIu64
			 "\nversion=%s\ncompatible=%s\nupdated=%" PRId64 "\n",
			 hex, s->bundle_size, s->header_size, s->chunk_count, s->next_chunk, s->resume_offset,
			 s->version, s->compatible, s->updated);
	session_path(path, sizeof(path), dir, LB_SESSION_FILE);
	return lb_write_file_atomic(path, text, (size_t)n, 0644);
}

int lb_session_begin(const char *dir, const struct lb_bundle_header *h, uint32_t next_chunk,
		     struct lb_session *ret)
{
	char path[4096];
	struct lb_session s = {
	    .bundle_size = lb_bundle_size(h),
	    .header_size = h->header_size,
	    .chunk_count = lb_manifest_chunk_count(&h->manifest),
	    .next_chunk = next_chunk,
	    .resume_offset = lb_bundle_chunk_offset(h, next_chunk),
	};
	size_t size;
	lb_sha256(h->manifest_text, h->manifest_size, s.manifest_sha256);
	snprintf(s.version, sizeof(s.version), "%s", h->manifest.version);
	snprintf(s.compatible, sizeof(s.compatible), "%s", h->manifest.compatible);
	int r = lb_bundle_header_bytes(h, &s.header, &size);
	if (r < 0)
		return r;
	/* The header file goes first: a header without keys is no session, and keys naming another
	 * manifest than the header file's are refused on loading. */
	lb_session_discard(dir);
	session_path(path, sizeof(path), dir, LB_SESSION_HEADER_FILE);
	if ((r = lb_write_file_atomic(path, s.header, size, 0644)) < 0 || (r = save_keys(dir, &s)) < 0) {
		lb_session_discard(dir);
		free(s.header);
		return r;
	}
	*ret = s;
	return 0;
}

int lb_session_advance(const char *dir, struct lb_session *s, const struct lb_bundle_header *h,
		       uint32_t next_chunk)
{
	s->next_chunk = next_chunk;
	s->resume_offset = lb_bundle_chunk_offset(h, next_chunk);
	return save_keys(dir, s);
}

static int inconsistent(struct lb_error *err, const char *why)
{
	return lb_error_set(err, EBADMSG, LB_E_INTERNAL,
			    "the stored upload session is inconsistent (%s): send the whole bundle again",
			    why);
}

int lb_session_load(const char *dir, struct lb_session *ret, struct lb_error *err)
{
	char path[4096];
	_cleanup_free_ char *text = NULL, *header = NULL;
	size_t header_size = 0;
	struct lb_session s = {0};
	bool have_hash = false;

	session_path(path, sizeof(path), dir, LB_SESSION_FILE);
	int r = lb_read_file(path, 4096, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? r
				    : lb_error_set(err, -r, LB_E_IO, "cannot read the upload session %s: %s",
						   path, strerror(-r));
	char *cursor = text, *key, *v;
	while (lb_next_key_value(&cursor, &key, &v)) {
		if (!strcmp(key, "manifest_sha256"))
			have_hash = lb_hex_decode(v, strlen(v), s.manifest_sha256, LB_SHA256_SIZE);
		else if (!strcmp(key, "bundle_size"))
			s.bundle_size = strtoull(v, NULL, 10);
		else if (!strcmp(key, "header_size"))
			s.header_size = strtoull(v, NULL, 10);
		else if (!strcmp(key, "chunks"))
			s.chunk_count = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(key, "next_chunk"))
			s.next_chunk = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(key, "resume_offset"))
			s.resume_offset = strtoull(v, NULL, 10);
		else if (!strcmp(key, "version"))
			snprintf(s.version, sizeof(s.version), "%s", v);
		else if (!strcmp(key, "compatible"))
			snprintf(s.compatible, sizeof(s.compatible), "%s", v);
		else if (!strcmp(key, "updated"))
			s.updated = strtoll(v, NULL, 10);
	}
	if (!have_hash)
		return inconsistent(err, "no manifest hash");
	if (s.header_size < LB_BUNDLE_PREAMBLE_SIZE || s.header_size > s.resume_offset ||
	    s.resume_offset > s.bundle_size || s.next_chunk > s.chunk_count || s.chunk_count > LB_CHUNKS_MAX)
		return inconsistent(err, "the resume point is out of range");

	session_path(path, sizeof(path), dir, LB_SESSION_HEADER_FILE);
	r = lb_read_file(path, LB_BUNDLE_PREAMBLE_SIZE + LB_MANIFEST_SIZE_MAX + LB_SIGNATURE_BLOCK_SIZE,
			 &header, &header_size);
	if (r == -ENOENT)
		return inconsistent(err, "the header file is missing");
	if (r < 0)
		return lb_error_set(err, -r, LB_E_IO, "cannot read the upload session %s: %s", path,
				    strerror(-r));
	if (header_size != s.header_size)
		return inconsistent(err, "the header file has another size");
	/* The manifest sits right after the preamble; its hash names the bundle. The header is
	 * authenticated again by the installer before anything is written. */
	uint8_t digest[LB_SHA256_SIZE];
	uint32_t manifest_size = (uint32_t)(uint8_t)header[12] << 24 | (uint32_t)(uint8_t)header[13] << 16 |
				 (uint32_t)(uint8_t)header[14] << 8 | (uint8_t)header[15];
	if ((uint64_t)manifest_size + LB_BUNDLE_PREAMBLE_SIZE > header_size)
		return inconsistent(err, "the header file is cut");
	lb_sha256(header + LB_BUNDLE_PREAMBLE_SIZE, manifest_size, digest);
	if (memcmp(digest, s.manifest_sha256, LB_SHA256_SIZE) != 0)
		return inconsistent(err, "the header file belongs to another bundle");
	s.header = (uint8_t *)TAKE_PTR(header);
	*ret = s;
	return 0;
}

void lb_session_discard(const char *dir)
{
	char path[4096];
	session_path(path, sizeof(path), dir, LB_SESSION_FILE);
	unlink(path);
	session_path(path, sizeof(path), dir, LB_SESSION_HEADER_FILE);
	unlink(path);
}

void lb_session_free(struct lb_session *s)
{
	free(s->header);
	s->header = NULL;
}

bool lb_session_matches(const struct lb_session *s, const uint8_t *bytes, size_t size)
{
	return s->header && size >= s->header_size && memcmp(bytes, s->header, s->header_size) == 0;
}

void lb_session_json(const struct lb_session *s, bool active, FILE *f)
{
	char hex[LB_SHA256_HEX_SIZE + 1];
	lb_hex_encode(s->manifest_sha256, LB_SHA256_SIZE, hex);
	fprintf(f,
		"{\"manifest_sha256\":\"%s\",\"bundle_size\":%" PRIu64 ",\"header_size\":%" PRIu64
		",\"resume_offset\":%" PRIu64 ",\"next_chunk\":%" PRIu32 ",\"chunks\":%" PRIu32
		",\"percent\":%u,\"version\":",
		hex, s->bundle_size, s->header_size, s->resume_offset, s->next_chunk, s->chunk_count,
		s->bundle_size ? (unsigned)(s->resume_offset * 100 / s->bundle_size) : 0);
	lb_json_string(f, s->version);
	fprintf(f, ",\"compatible\":");
	lb_json_string(f, s->compatible);
	fprintf(f, ",\"updated\":%" PRId64 ",\"active\":%s}", s->updated, active ? "true" : "false");
}
