/* Unit tests of cgi/lib/io.c: whole-file helpers and the key=value reader of the state files. */
#include "lib/io.h"
#include "lib/macro.h"
#include "unit.h"

static void test_key_value(void)
{
	char text[] = "state=idle\n\nno equals sign\nmessage=a=b c\nempty=\nlast=1";
	char *cursor = text, *key, *value;
	CHECK(lb_next_key_value(&cursor, &key, &value));
	CHECK(!strcmp(key, "state") && !strcmp(value, "idle"));
	CHECK(lb_next_key_value(&cursor, &key, &value));
	CHECK(!strcmp(key, "message") && !strcmp(value, "a=b c")); /* the first '=' splits */
	CHECK(lb_next_key_value(&cursor, &key, &value));
	CHECK(!strcmp(key, "empty") && !strcmp(value, ""));
	CHECK(lb_next_key_value(&cursor, &key, &value));
	CHECK(!strcmp(key, "last") && !strcmp(value, "1")); /* no newline at the end */
	CHECK(!lb_next_key_value(&cursor, &key, &value));
	CHECK(!lb_next_key_value(&cursor, &key, &value));

	char none[] = "";
	cursor = none;
	CHECK(!lb_next_key_value(&cursor, &key, &value));
}

static void test_file_roundtrip(void)
{
	const char *path = unit_path("f");
	CHECK(lb_write_file_atomic(path, "k=v\n", 4, 0644) == 0);
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	CHECK(lb_read_file(path, 64, &text, &size) == 0);
	CHECK(size == 4 && !strcmp(text, "k=v\n"));
	char *cursor = text, *key, *value;
	CHECK(lb_next_key_value(&cursor, &key, &value) && !strcmp(key, "k") && !strcmp(value, "v"));
	free(text);
	text = NULL;
	CHECK(lb_read_file(path, 2, &text, &size) < 0); /* larger than allowed */
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/io/key-value", test_key_value},
	    {"/io/file-roundtrip", test_file_roundtrip},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
