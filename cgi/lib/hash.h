/* SHA-256 through OpenSSL's EVP interface (which uses the CPU's SHA instructions where present),
 * and conversion of digests to and from lowercase hex. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_SHA256_SIZE 32
#define LB_SHA256_HEX_SIZE (2 * LB_SHA256_SIZE)

void lb_sha256(const void *data, size_t size, uint8_t ret_digest[LB_SHA256_SIZE]);

/* Incremental hashing of a long stream (whole-image hashes). */
struct lb_sha256_stream;
struct lb_sha256_stream *lb_sha256_stream_new(void);
void lb_sha256_stream_update(struct lb_sha256_stream *s, const void *data, size_t size);
void lb_sha256_stream_final(struct lb_sha256_stream *s, uint8_t ret_digest[LB_SHA256_SIZE]);
void lb_sha256_stream_free(struct lb_sha256_stream *s);
/* A copy of the stream's state: one prefix, two different endings hashed without reading the
 * prefix twice. NULL when out of memory. */
struct lb_sha256_stream *lb_sha256_stream_dup(const struct lb_sha256_stream *s);

/* Writes 64 hex digits and a NUL. */
void lb_hex_encode(const uint8_t *data, size_t size, char *ret_hex);

/* Parses exactly 2*size lowercase hex digits; anything else fails. */
bool lb_hex_decode(const char *hex, size_t hex_len, uint8_t *ret_data, size_t size);

/* True when every byte of the buffer is zero. */
bool lb_is_zero(const void *data, size_t size);
