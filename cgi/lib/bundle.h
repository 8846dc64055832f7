/* The bundle container: a fixed preamble, the manifest, the signature block, then the payload.
 * This module owns the byte layout (docs/bundle-format.md) and reading the header from a
 * stream; what the header is checked against (keyring, board, targets) is the installer's. */
#pragma once

#include "error.h"
#include "input.h"
#include "manifest.h"
#include "signature.h"

#include <stdbool.h>
#include <stdint.h>

#define LB_BUNDLE_MAGIC "LIFEBOAT"
#define LB_BUNDLE_MAGIC_SIZE 8
/* magic, then three big-endian u32: format version, manifest size, signature block size */
#define LB_BUNDLE_PREAMBLE_SIZE (LB_BUNDLE_MAGIC_SIZE + 12)

struct lb_bundle_header {
	unsigned format;     /* from the preamble; the parsed manifest must agree */
	char *manifest_text; /* the exact signed bytes */
	size_t manifest_size;
	bool signed_;
	uint8_t signature[LB_SIGNATURE_BLOCK_SIZE];
	struct lb_manifest manifest; /* empty until lb_bundle_header_parse() */
	uint64_t header_size; /* preamble + manifest + signature: where the payload starts */
};

/* Reads the header from the front of a stream; the input is left at the payload. Only the
 * container is checked: the manifest stays unparsed text, so that a device can authenticate
 * it before its parser ever sees it. */
int lb_bundle_read_header(struct lb_input *in, struct lb_bundle_header *ret, struct lb_error *err);

/* Parses the manifest text into h->manifest. */
int lb_bundle_header_parse(struct lb_bundle_header *h, struct lb_error *err);

/* Fills the preamble of a bundle of `format` for a manifest of `manifest_size` bytes, signed or not. */
void lb_bundle_preamble(uint8_t ret[LB_BUNDLE_PREAMBLE_SIZE], unsigned format, uint32_t manifest_size,
			bool signed_);

void lb_bundle_header_free(struct lb_bundle_header *h);

/* Total bundle size implied by a parsed header. */
static inline uint64_t lb_bundle_size(const struct lb_bundle_header *h)
{
	return h->header_size + h->manifest.payload_size;
}
