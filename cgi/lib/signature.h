/* Ed25519 signatures over the manifest: key generation, signing on the host, and the device's
 * keyring of trusted public keys. The signature block in a bundle is the signer's key id (the
 * SHA-256 of its public key in DER form) followed by the 64-byte signature, so the device can
 * tell "signed by a key I do not trust" from "signed by my key but the bytes were changed". */
#pragma once

#include "error.h"
#include "hash.h"

#include <stddef.h>
#include <stdint.h>

#define LB_SIGNATURE_SIZE 64
#define LB_SIGNATURE_BLOCK_SIZE (LB_SHA256_SIZE + LB_SIGNATURE_SIZE)
#define LB_KEYRING_MAX 32

struct lb_keyring;

/* Writes a new Ed25519 key pair as PEM files; the private key file is created mode 0600. */
int lb_key_generate(const char *private_path, const char *public_path, struct lb_error *err);

/* Signs `data` with the private key in `private_path`, producing a signature block. */
int lb_sign(const char *private_path, const void *data, size_t size, uint8_t ret_block[LB_SIGNATURE_BLOCK_SIZE],
	    struct lb_error *err);

/* Loads every *.pem public key of a directory, or one PEM file when `path` is a file. */
int lb_keyring_load(const char *path, struct lb_keyring **ret, struct lb_error *err);
void lb_keyring_free(struct lb_keyring *k);

unsigned lb_keyring_count(const struct lb_keyring *k);
/* The key id of key `i`, as hex, and the file it came from. */
void lb_keyring_key_id(const struct lb_keyring *k, unsigned i, char ret_hex[LB_SHA256_HEX_SIZE + 1]);
const char *lb_keyring_key_file(const struct lb_keyring *k, unsigned i);

/* Checks a signature block against the keyring: LB_E_UNKNOWN_KEY when no key has the block's
 * id, LB_E_BAD_SIGNATURE when the key is known but the signature does not match `data`. */
int lb_keyring_verify(const struct lb_keyring *k, const void *data, size_t size,
		      const uint8_t block[LB_SIGNATURE_BLOCK_SIZE], struct lb_error *err);
