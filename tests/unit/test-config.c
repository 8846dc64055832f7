/* The device configuration file and command-line targets. */
#include "lib/config.h"
#include "unit.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_load(void)
{
	struct lb_config c;
	struct lb_error e = {0};
	lb_config_defaults(&c);
	CHECK(c.readback && !c.allow_unsigned);
	write_file(unit_path("conf"), "# device\ncompatible = pi4-navigator\n  keyring=/k \n"
				      "readback = no\nallow-unsigned = yes\ntarget.rootfs = /dev/mmcblk0p3\n"
				      "\ntarget.boot=/dev/mmcblk0p5\n");
	CHECK(lb_config_load(&c, unit_path("conf"), false, &e) == 0);
	CHECK(strcmp(c.compatible, "pi4-navigator") == 0);
	CHECK(strcmp(c.keyring, "/k") == 0);
	CHECK(!c.readback && c.allow_unsigned);
	CHECK(c.target_count == 2);
	CHECK(strcmp(c.target_role[1], "boot") == 0 && strcmp(c.target_path[1], "/dev/mmcblk0p5") == 0);
	/* a flag replaces the file's target of the same role */
	CHECK(lb_config_set_target(&c, "rootfs=/tmp/x", &e) == 0);
	CHECK(c.target_count == 2 && strcmp(c.target_path[0], "/tmp/x") == 0);
}

static void test_errors(void)
{
	struct lb_config c;
	struct lb_error e = {0};
	lb_config_defaults(&c);
	CHECK(lb_config_load(&c, unit_path("missing"), true, &e) == 0);
	CHECK(lb_config_load(&c, unit_path("missing"), false, &e) < 0);
	write_file(unit_path("conf"), "colour = blue\n");
	e = (struct lb_error){0};
	CHECK(lb_config_load(&c, unit_path("conf"), false, &e) < 0);
	CHECK(strstr(e.message, ":1: unknown key 'colour'") != NULL);
	write_file(unit_path("conf"), "readback = maybe\n");
	e = (struct lb_error){0};
	CHECK(lb_config_load(&c, unit_path("conf"), false, &e) < 0);
	e = (struct lb_error){0};
	CHECK(lb_config_set_target(&c, "rootfs", &e) < 0);
	e = (struct lb_error){0};
	CHECK(lb_config_set_target(&c, "bad role=/x", &e) < 0);
	e = (struct lb_error){0};
	CHECK(lb_config_set_target(&c, "=/x", &e) < 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/config/load", test_load},
		{"/config/errors", test_errors},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
