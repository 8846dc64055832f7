#include "signature.h"
#include "macro.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct keyring_entry {
	EVP_PKEY *key;
	uint8_t id[LB_SHA256_SIZE];
	char file[256];
};

struct lb_keyring {
	unsigned count;
	struct keyring_entry keys[LB_KEYRING_MAX];
};

static int key_id(EVP_PKEY *key, uint8_t ret_id[LB_SHA256_SIZE])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	if (n <= 0)
		return -EINVAL;
	lb_sha256(der, (size_t)n, ret_id);
	OPENSSL_free(der);
	return 0;
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

static void filep(FILE **f)
{
	if (*f)
		fclose(*f);
}

int lb_key_generate(const char *private_path, const char *public_path, struct lb_error *err)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!key)
		return lb_error_set(err, EIO, LB_E_KEY, "OpenSSL could not generate an Ed25519 key");

	_cleanup_close_ int pfd = open(private_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (pfd < 0)
		return lb_error_set(err, errno, LB_E_IO, "cannot create %s: %s (it must not exist yet)",
				    private_path, strerror(errno));
	_cleanup_(filep) FILE *priv = fdopen(TAKE_FD(pfd), "w");
	_cleanup_(filep) FILE *pub = priv ? fopen(public_path, "wxe") : NULL;
	if (!priv || !pub) {
		int e = errno;
		/* Never leave half a pair behind: a private key whose public key was not written is
		 * useless, and would make the next keygen with the same names fail too. */
		unlink(private_path);
		return lb_error_set(err, e, LB_E_IO, "cannot create %s: %s (it must not exist yet)",
				    priv ? public_path : private_path, strerror(e));
	}
	if (!PEM_write_PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) || !PEM_write_PUBKEY(pub, key) ||
	    fflush(priv) != 0 || fflush(pub) != 0) {
		unlink(private_path);
		unlink(public_path);
		return lb_error_set(err, EIO, LB_E_IO, "cannot write the key files");
	}
	return 0;
}

int lb_sign(const char *private_path, const void *data, size_t size, uint8_t ret_block[LB_SIGNATURE_BLOCK_SIZE],
	    struct lb_error *err)
{
	_cleanup_(filep) FILE *f = fopen(private_path, "re");
	if (!f)
		return lb_error_set(err, errno, LB_E_KEY, "cannot open private key %s: %s", private_path,
				    strerror(errno));
	_cleanup_(pkey_freep) EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519)
		return lb_error_set(err, EINVAL, LB_E_KEY,
				    "%s is not an Ed25519 private key in PEM form (make one with "
				    "'lifeboat-bundle keygen')",
				    private_path);

	uint8_t block[LB_SIGNATURE_BLOCK_SIZE];
	if (key_id(key, block) < 0)
		return lb_error_set(err, EINVAL, LB_E_KEY, "cannot derive the public key of %s", private_path);

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = LB_SIGNATURE_SIZE;
	bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
		  EVP_DigestSign(ctx, block + LB_SHA256_SIZE, &sig_len, data, size) == 1 &&
		  sig_len == LB_SIGNATURE_SIZE;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return lb_error_set(err, EIO, LB_E_KEY, "OpenSSL failed to sign with %s", private_path);
	memcpy(ret_block, block, sizeof(block));
	return 0;
}

static int keyring_add_file(struct lb_keyring *k, const char *path, struct lb_error *err)
{
	if (k->count == LB_KEYRING_MAX)
		return lb_error_set(err, E2BIG, LB_E_KEY, "more than %d keys in the keyring", LB_KEYRING_MAX);
	_cleanup_(filep) FILE *f = fopen(path, "re");
	if (!f)
		return lb_error_set(err, errno, LB_E_KEY, "cannot open public key %s: %s", path, strerror(errno));
	EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return lb_error_set(err, EINVAL, LB_E_KEY, "%s is not an Ed25519 public key in PEM form", path);
	}
	struct keyring_entry *e = &k->keys[k->count];
	if (key_id(key, e->id) < 0) {
		EVP_PKEY_free(key);
		return lb_error_set(err, EINVAL, LB_E_KEY, "cannot encode public key %s", path);
	}
	e->key = key;
	const char *base = strrchr(path, '/');
	snprintf(e->file, sizeof(e->file), "%s", base ? base + 1 : path);
	k->count++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int keep_pem(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".pem") == 0;
}

int lb_keyring_load(const char *path, struct lb_keyring **ret, struct lb_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return lb_error_set(err, errno, LB_E_KEY, "keyring %s: %s", path, strerror(errno));

	struct lb_keyring *k = calloc(1, sizeof(*k));
	if (!k)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	int r = 0;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(path, &names, keep_pem, by_name);
		if (n < 0) {
			r = lb_error_set(err, errno, LB_E_KEY, "cannot list keyring %s: %s", path, strerror(errno));
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			char file[4096];
			snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
			if (r == 0)
				r = keyring_add_file(k, file, err);
			free(names[i]);
		}
		if (n > 0)
			free(names);
	} else
		r = keyring_add_file(k, path, err);

	if (r == 0 && k->count == 0)
		r = lb_error_set(err, ENOENT, LB_E_KEY,
				 "keyring %s holds no *.pem public key: the device cannot check any bundle", path);
	if (r < 0) {
		lb_keyring_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

void lb_keyring_free(struct lb_keyring *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < k->count; i++)
		EVP_PKEY_free(k->keys[i].key);
	free(k);
}

unsigned lb_keyring_count(const struct lb_keyring *k)
{
	return k ? k->count : 0;
}

void lb_keyring_key_id(const struct lb_keyring *k, unsigned i, char ret_hex[LB_SHA256_HEX_SIZE + 1])
{
	lb_hex_encode(k->keys[i].id, LB_SHA256_SIZE, ret_hex);
}

const char *lb_keyring_key_file(const struct lb_keyring *k, unsigned i)
{
	return k->keys[i].file;
}

int lb_keyring_verify(const struct lb_keyring *k, const void *data, size_t size,
		      const uint8_t block[LB_SIGNATURE_BLOCK_SIZE], struct lb_error *err)
{
	char hex[LB_SHA256_HEX_SIZE + 1];
	for (unsigned i = 0; k && i < k->count; i++) {
		if (memcmp(k->keys[i].id, block, LB_SHA256_SIZE) != 0)
			continue;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->keys[i].key) == 1 &&
			  EVP_DigestVerify(ctx, block + LB_SHA256_SIZE, LB_SIGNATURE_SIZE, data, size) == 1;
		EVP_MD_CTX_free(ctx);
		if (ok)
			return 0;
		return lb_error_set(err, EBADMSG, LB_E_BAD_SIGNATURE,
				    "the signature does not match the manifest (key %s): the bundle was "
				    "damaged or altered on its way; copy it again from the original",
				    k->keys[i].file);
	}
	lb_hex_encode(block, LB_SHA256_SIZE, hex);
	return lb_error_set(err, EKEYREJECTED, LB_E_UNKNOWN_KEY,
			    "the bundle is signed by key %.16s..., which this device does not trust: use a bundle "
			    "signed with a key in the device's keyring, or add its public key there",
			    hex);
}
