#include "bundle.h"
#include "macro.h"

#include <errno.h>
#include <string.h>

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void lb_bundle_preamble(uint8_t ret[LB_BUNDLE_PREAMBLE_SIZE], unsigned format, uint32_t manifest_size, bool signed_)
{
	memcpy(ret, LB_BUNDLE_MAGIC, LB_BUNDLE_MAGIC_SIZE);
	put_be32(ret + 8, format);
	put_be32(ret + 12, manifest_size);
	put_be32(ret + 16, signed_ ? LB_SIGNATURE_BLOCK_SIZE : 0);
}

static int read_exact(struct lb_input *in, void *buf, size_t size, const char *what, struct lb_error *err)
{
	uint64_t at = in->consumed;
	ssize_t n = lb_input_read_full(in, buf, size);
	if (n < 0)
		return lb_error_set(err, (int)-n, LB_E_READ, "reading the bundle failed in the %s: %s", what,
				    strerror((int)-n));
	if ((size_t)n < size)
		return lb_error_set(err, EPIPE, LB_E_TRUNCATED,
				    "the bundle ends in its %s after %llu bytes: the file is incomplete or the "
				    "upload was cut; send it again",
				    what, (unsigned long long)(at + (uint64_t)n));
	return 0;
}

int lb_bundle_read_header(struct lb_input *in, struct lb_bundle_header *ret, struct lb_error *err)
{
	uint8_t pre[LB_BUNDLE_PREAMBLE_SIZE];
	int r;

	/* The magic is checked on its own first, so that a wrong file of any length says "not a
	 * bundle" rather than "truncated". */
	ssize_t n = lb_input_read_full(in, pre, LB_BUNDLE_MAGIC_SIZE);
	if (n < 0)
		return lb_error_set(err, (int)-n, LB_E_READ, "reading the bundle failed: %s", strerror((int)-n));
	if ((size_t)n < LB_BUNDLE_MAGIC_SIZE || memcmp(pre, LB_BUNDLE_MAGIC, LB_BUNDLE_MAGIC_SIZE) != 0)
		return lb_error_set(err, EBADMSG, LB_E_NOT_A_BUNDLE,
				    "this is not a Lifeboat bundle (it does not start with \"LIFEBOAT\"): choose "
				    "the .lifeboat file made by lifeboat-bundle, not a raw or compressed image");
	if ((r = read_exact(in, pre + LB_BUNDLE_MAGIC_SIZE, LB_BUNDLE_PREAMBLE_SIZE - LB_BUNDLE_MAGIC_SIZE,
			    "preamble", err)) < 0)
		return r;

	uint32_t format = get_be32(pre + 8);
	uint32_t manifest_size = get_be32(pre + 12);
	uint32_t signature_size = get_be32(pre + 16);
	if (format < LB_FORMAT_VERSION_MIN || format > LB_FORMAT_VERSION)
		return lb_error_set(err, EPROTO, LB_E_FORMAT_VERSION,
				    "bundle format %u is not known to this recovery (it reads formats %d to %d): "
				    "update the recovery or build the bundle with a matching lifeboat-bundle",
				    format, LB_FORMAT_VERSION_MIN, LB_FORMAT_VERSION);
	if (manifest_size == 0 || manifest_size > LB_MANIFEST_SIZE_MAX)
		return lb_error_set(err, EFBIG, LB_E_MANIFEST_INVALID,
				    "the manifest claims %u bytes; the limit is %u: the bundle is damaged or "
				    "not meant for this device",
				    manifest_size, LB_MANIFEST_SIZE_MAX);
	if (signature_size != 0 && signature_size != LB_SIGNATURE_BLOCK_SIZE)
		return lb_error_set(err, EBADMSG, LB_E_MANIFEST_INVALID,
				    "the signature block claims %u bytes; the format uses 0 or %d: the bundle is "
				    "damaged",
				    signature_size, LB_SIGNATURE_BLOCK_SIZE);

	struct lb_bundle_header h = {.format = format, .manifest_size = manifest_size, .signed_ = signature_size != 0};
	h.manifest_text = malloc(manifest_size + 1);
	if (!h.manifest_text)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the manifest");
	if ((r = read_exact(in, h.manifest_text, manifest_size, "manifest", err)) < 0 ||
	    (h.signed_ && (r = read_exact(in, h.signature, LB_SIGNATURE_BLOCK_SIZE, "signature", err)) < 0)) {
		free(h.manifest_text);
		return r;
	}
	h.manifest_text[manifest_size] = '\0';
	h.header_size = LB_BUNDLE_PREAMBLE_SIZE + manifest_size + signature_size;
	*ret = h;
	return 0;
}

int lb_bundle_header_parse(struct lb_bundle_header *h, struct lb_error *err)
{
	int r = lb_manifest_parse(h->manifest_text, h->manifest_size, &h->manifest, err);
	if (r < 0)
		return r;
	/* The preamble is not signed; the manifest's own first line is, and decides. */
	if (h->manifest.format != h->format) {
		lb_manifest_free(&h->manifest);
		return lb_error_set(err, EBADMSG, LB_E_MANIFEST_INVALID,
				    "the preamble says format %u but the signed manifest says %u: the bundle is "
				    "damaged; copy it again",
				    h->format, h->manifest.format);
	}
	return 0;
}

void lb_bundle_header_free(struct lb_bundle_header *h)
{
	lb_manifest_free(&h->manifest);
	free(h->manifest_text);
	h->manifest_text = NULL;
}
