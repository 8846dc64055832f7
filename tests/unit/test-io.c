/* Unit tests of cgi/lib/io.c: whole-file helpers, the key=value reader of the state files, and
 * the pipe widening of a bundle arriving on standard input. */
#include "lib/io.h"
#include "lib/macro.h"
#include "unit.h"

#include <fcntl.h>

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

static void test_pipe_widen(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	lb_pipe_widen(p[0]); /* the reading end, as the installer holds it */
	int size = fcntl(p[0], F_GETPIPE_SZ);
	close(p[0]);
	close(p[1]);
	CHECK(size == 1 << 20); /* from the default 64 KiB of 4 KiB pages */

	const char *path = unit_path("not-a-pipe"); /* a regular file is left as it is */
	CHECK(lb_write_file_atomic(path, "x", 1, 0644) == 0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	lb_pipe_widen(fd);
	char c;
	bool still_readable = read(fd, &c, 1) == 1 && c == 'x';
	close(fd);
	CHECK(still_readable);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/io/key-value", test_key_value},
	    {"/io/file-roundtrip", test_file_roundtrip},
	    {"/io/pipe-widen", test_pipe_widen},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
