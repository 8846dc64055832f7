#include "hash.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* xxHash as a header only (libxxhash-dev): nothing to link, nothing more on the device. */
#define XXH_INLINE_ALL
#include <xxhash.h>

void lb_sha256(const void *data, size_t size, uint8_t ret_digest[LB_SHA256_SIZE])
{
	unsigned int len = LB_SHA256_SIZE;
	/* EVP_Digest cannot fail for SHA-256 on valid pointers; a failure here would be a broken
	 * OpenSSL, so poison the digest rather than leave it uninitialised: nothing will match it. */
	if (!EVP_Digest(data, size, ret_digest, &len, EVP_sha256(), NULL))
		memset(ret_digest, 0xff, LB_SHA256_SIZE);
}

uint64_t lb_fingerprint(const void *data, size_t size)
{
	return XXH3_64bits(data, size);
}

struct lb_sha256_stream {
	EVP_MD_CTX *ctx;
};

struct lb_sha256_stream *lb_sha256_stream_new(void)
{
	struct lb_sha256_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || !EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL)) {
		lb_sha256_stream_free(s);
		return NULL;
	}
	return s;
}

void lb_sha256_stream_update(struct lb_sha256_stream *s, const void *data, size_t size)
{
	EVP_DigestUpdate(s->ctx, data, size);
}

void lb_sha256_stream_final(struct lb_sha256_stream *s, uint8_t ret_digest[LB_SHA256_SIZE])
{
	unsigned int len = LB_SHA256_SIZE;
	if (!EVP_DigestFinal_ex(s->ctx, ret_digest, &len))
		memset(ret_digest, 0xff, LB_SHA256_SIZE);
}

void lb_sha256_stream_free(struct lb_sha256_stream *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->ctx);
	free(s);
}

struct lb_sha256_stream *lb_sha256_stream_dup(const struct lb_sha256_stream *s)
{
	struct lb_sha256_stream *copy = calloc(1, sizeof(*copy));
	if (!copy)
		return NULL;
	copy->ctx = EVP_MD_CTX_new();
	if (!copy->ctx || !EVP_MD_CTX_copy_ex(copy->ctx, s->ctx)) {
		lb_sha256_stream_free(copy);
		return NULL;
	}
	return copy;
}

void lb_hex_encode(const uint8_t *data, size_t size, char *ret_hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < size; i++) {
		ret_hex[2 * i] = digits[data[i] >> 4];
		ret_hex[2 * i + 1] = digits[data[i] & 0xf];
	}
	ret_hex[2 * size] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool lb_hex_decode(const char *hex, size_t hex_len, uint8_t *ret_data, size_t size)
{
	if (hex_len != 2 * size)
		return false;
	for (size_t i = 0; i < size; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		ret_data[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool lb_is_zero(const void *data, size_t size)
{
	const uint8_t *p = data;
	while (size > 0 && ((uintptr_t)p & 7)) {
		if (*p++)
			return false;
		size--;
	}
	/* One pass, 512 bytes per step OR-ed together: the compiler vectorises the inner loop, and
	 * a non-zero block ends the scan early. */
	const uint64_t *w = (const uint64_t *)(const void *)p;
	for (; size >= 512; size -= 512, w += 64) {
		uint64_t any = 0;
		for (unsigned i = 0; i < 64; i++)
			any |= w[i];
		if (any)
			return false;
	}
	for (p = (const uint8_t *)w; size > 0; size--)
		if (*p++)
			return false;
	return true;
}
