/* SHA-256, hex and zero detection. */
#include "lib/hash.h"
#include "unit.h"

static void test_sha256_known(void)
{
	uint8_t d[LB_SHA256_SIZE];
	char hex[LB_SHA256_HEX_SIZE + 1];
	lb_sha256("abc", 3, d);
	lb_hex_encode(d, sizeof(d), hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	struct lb_sha256_stream *s = lb_sha256_stream_new();
	lb_sha256_stream_update(s, "a", 1);
	lb_sha256_stream_update(s, "bc", 2);
	uint8_t d2[LB_SHA256_SIZE];
	lb_sha256_stream_final(s, d2);
	lb_sha256_stream_free(s);
	CHECK(memcmp(d, d2, sizeof(d)) == 0);
}

static void test_hex(void)
{
	uint8_t d[2];
	CHECK(lb_hex_decode("0aff", 4, d, 2) && d[0] == 0x0a && d[1] == 0xff);
	CHECK(!lb_hex_decode("0AFF", 4, d, 2));
	CHECK(!lb_hex_decode("0af", 3, d, 2));
	CHECK(!lb_hex_decode("0ag0", 4, d, 2));
}

static void test_zero(void)
{
	static uint8_t buf[100000];
	CHECK(lb_is_zero(buf, sizeof(buf)));
	CHECK(lb_is_zero(buf, 0));
	CHECK(lb_is_zero(buf, 5));
	size_t spots[] = {0, 3, 15, 16, 17, 4095, 99999};
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		buf[spots[i]] = 1;
		CHECK(!lb_is_zero(buf, sizeof(buf)));
		buf[spots[i]] = 0;
	}
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/hash/sha256", test_sha256_known},
		{"/hash/hex", test_hex},
		{"/hash/zero", test_zero},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
