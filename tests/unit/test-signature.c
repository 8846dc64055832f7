/* Keys, signatures and the keyring. */
#include "lib/signature.h"
#include "unit.h"

#include <sys/stat.h>

static void test_sign_verify(void)
{
	struct lb_error e = {0};
	CHECK(mkdir(unit_path("ring"), 0755) == 0);
	CHECK(lb_key_generate(unit_path("a.key"), unit_path("ring/a.pem"), &e) == 0);
	CHECK(lb_key_generate(unit_path("b.key"), unit_path("b.pem"), &e) == 0);
	struct stat st;
	CHECK(stat(unit_path("a.key"), &st) == 0 && (st.st_mode & 0777) == 0600);

	uint8_t block[LB_SIGNATURE_BLOCK_SIZE];
	const char msg[] = "lifeboat-manifest 1\n";
	CHECK(lb_sign(unit_path("a.key"), msg, sizeof(msg) - 1, block, &e) == 0);

	struct lb_keyring *k = NULL;
	CHECK(lb_keyring_load(unit_path("ring"), &k, &e) == 0);
	CHECK(lb_keyring_count(k) == 1);
	CHECK(strcmp(lb_keyring_key_file(k, 0), "a.pem") == 0);
	CHECK(lb_keyring_verify(k, msg, sizeof(msg) - 1, block, &e) == 0);

	/* changed data */
	e = (struct lb_error){0};
	CHECK(lb_keyring_verify(k, "lifeboat-manifest 2\n", sizeof(msg) - 1, block, &e) < 0);
	CHECK(e.code == LB_E_BAD_SIGNATURE);
	/* changed signature byte */
	block[LB_SHA256_SIZE + 5] ^= 1;
	e = (struct lb_error){0};
	CHECK(lb_keyring_verify(k, msg, sizeof(msg) - 1, block, &e) < 0);
	CHECK(e.code == LB_E_BAD_SIGNATURE);
	/* signed by a key the ring does not hold */
	CHECK(lb_sign(unit_path("b.key"), msg, sizeof(msg) - 1, block, &e) == 0);
	e = (struct lb_error){0};
	CHECK(lb_keyring_verify(k, msg, sizeof(msg) - 1, block, &e) < 0);
	CHECK(e.code == LB_E_UNKNOWN_KEY);
	lb_keyring_free(k);
}

static void test_keygen_refuses_overwrite(void)
{
	struct lb_error e = {0};
	CHECK(lb_key_generate(unit_path("a.key"), unit_path("a.pem"), &e) == 0);
	CHECK(lb_key_generate(unit_path("a.key"), unit_path("a2.pem"), &e) < 0);
	CHECK(e.code == LB_E_IO);
}

static void test_bad_keys(void)
{
	struct lb_error e = {0};
	struct lb_keyring *k = NULL;
	CHECK(mkdir(unit_path("empty"), 0755) == 0);
	CHECK(lb_keyring_load(unit_path("empty"), &k, &e) < 0);
	CHECK(e.code == LB_E_KEY);
	FILE *f = fopen(unit_path("junk.pem"), "w");
	CHECK(f != NULL);
	fputs("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", f);
	fclose(f);
	e = (struct lb_error){0};
	CHECK(lb_keyring_load(unit_path("junk.pem"), &k, &e) < 0);
	CHECK(e.code == LB_E_KEY);
	e = (struct lb_error){0};
	uint8_t block[LB_SIGNATURE_BLOCK_SIZE];
	CHECK(lb_sign(unit_path("junk.pem"), "x", 1, block, &e) < 0);
	CHECK(e.code == LB_E_KEY);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/signature/sign-verify", test_sign_verify},
		{"/signature/keygen/no-overwrite", test_keygen_refuses_overwrite},
		{"/signature/keyring/bad-keys", test_bad_keys},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
