/* SHA-256 through OpenSSL's EVP interface (which uses the CPU's SHA instructions where present),
 * conversion of digests to and from lowercase hex, and the fast fingerprint that recognises
 * bytes already proved by their SHA-256. */
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

/* A 64-bit XXH3 of bytes whose SHA-256 this process has already checked, to recognise them when
 * they are read back from the card. It only tells bytes apart from different bytes: a card
 * that lost or mixed up data is caught (a miss is 1 in 2^64), a forger is not, which is why it
 * is taken only of bytes that the signed SHA-256 chain has proved. About 20 times cheaper than
 * SHA-256 with SHA instructions, far more on a Raspberry Pi, which has none. */
uint64_t lb_fingerprint(const void *data, size_t size);

/* Writes 64 hex digits and a NUL. */
void lb_hex_encode(const uint8_t *data, size_t size, char *ret_hex);

/* Parses exactly 2*size lowercase hex digits; anything else fails. */
bool lb_hex_decode(const char *hex, size_t hex_len, uint8_t *ret_data, size_t size);

/* True when every byte of the buffer is zero. */
bool lb_is_zero(const void *data, size_t size);
