/* Boot control: the state transitions, and both environment formats checked against the boot
 * loaders' own tools (grub-editenv from GRUB, fw_printenv/fw_setenv from libubootenv). */
#include "lib/bootctl.h"
#include "lib/io.h"
#include "unit.h"

#include <fcntl.h>

static int sh(const char *fmt, const char *arg)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
	return system(cmd);
}

static bool output_has(const char *cmd_fmt, const char *arg, const char *needle)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), cmd_fmt, arg, arg);
	FILE *p = popen(cmd, "r");
	char buf[4096];
	size_t n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
	if (p)
		pclose(p);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void make_uboot_env(const char *path)
{
	/* Two zeroed copies of the right size: both fail their CRC, as on a fresh card. */
	char second[600];
	snprintf(second, sizeof(second), "%s.redund", path);
	for (int i = 0; i < 2; i++) {
		int fd = open(i ? second : path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		(void)!ftruncate(fd, LB_UBOOTENV_SIZE_DEFAULT);
		close(fd);
	}
}

static void test_grub_with_grub_editenv(void)
{
	const char *env = unit_path("grubenv");
	struct lb_boot b;
	struct lb_error e = {0};
	CHECK(sh("grub-editenv %s create && grub-editenv %s set other=kept", env) == 0);
	CHECK(lb_boot_open(&b, "grub", env, 3, &e) == 0);
	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	CHECK(output_has("grub-editenv %s list", env, "LB_ORDER=main recovery"));
	CHECK(output_has("grub-editenv %s list", env, "LB_main_LEFT=3"));
	CHECK(output_has("grub-editenv %s list", env, "LB_main_VERSION=1.0"));
	CHECK(output_has("grub-editenv %s list", env, "other=kept"));
	/* what GRUB's script writes back, this library reads */
	CHECK(sh("grub-editenv %s set LB_main_LEFT=1", env) == 0);
	struct lb_boot_state s;
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(lb_boot_attempts_left(&s, "main") == 1);
	CHECK(lb_boot_mark_good(&b, "main", &e) == 0);
	CHECK(output_has("grub-editenv %s list", env, "LB_main_LEFT=3"));
	char *text;
	size_t size;
	CHECK(lb_read_file(env, 4096, &text, &size) == 0);
	CHECK(size == 1024);
	free(text);
}

static void test_uboot_with_fw_printenv(void)
{
	const char *env = unit_path("uboot.env");
	char config[700];
	snprintf(config, sizeof(config), "%s 0x0 0x%x\n", env, LB_UBOOTENV_SIZE_DEFAULT);
	FILE *f = fopen(unit_path("fw_env.config"), "w");
	CHECK(f != NULL);
	fputs(config, f);
	fclose(f);
	make_uboot_env(env);

	struct lb_boot b;
	struct lb_error e = {0};
	struct lb_boot_state s;
	CHECK(lb_boot_open(&b, "uboot", env, 3, &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) < 0); /* both copies blank: refused, so the device boots recovery */
	CHECK(e.code == LB_E_BOOT_STATE);
	/* a blank environment is written once by the image build; here by hand */
	struct lb_bootenv blank = {0};
	CHECK(lb_ubootenv_write(env, LB_UBOOTENV_SIZE_DEFAULT, &blank, &e) == 0);
	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	CHECK(output_has("fw_printenv -c %s/fw_env.config", unit_dir, "LB_ORDER=main recovery"));
	CHECK(output_has("fw_printenv -c %s/fw_env.config", unit_dir, "LB_main_LEFT=3"));
	/* fw_setenv's writes (as U-Boot's env export -c makes them) read back */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "fw_setenv -c %s/fw_env.config LB_main_LEFT 2", unit_dir);
	CHECK(system(cmd) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(lb_boot_attempts_left(&s, "main") == 2);
}

static void test_uboot_torn_write(void)
{
	const char *env = unit_path("uboot.env");
	struct lb_boot b;
	struct lb_error e = {0};
	struct lb_boot_state s;
	struct lb_bootenv blank = {0};
	make_uboot_env(env);
	CHECK(lb_ubootenv_write(env, LB_UBOOTENV_SIZE_DEFAULT, &blank, &e) == 0);
	CHECK(lb_boot_open(&b, "uboot", env, 3, &e) == 0);
	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	/* a write torn in the first copy: the second still holds the whole state */
	int fd = open(env, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "XXXX", 4, 100) == 4);
	close(fd);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(lb_boot_attempts_left(&s, "main") == 3);
	/* both damaged: no state can be trusted, and the caller is told */
	char second[600];
	snprintf(second, sizeof(second), "%s.redund", env);
	fd = open(second, O_WRONLY);
	CHECK(pwrite(fd, "XXXX", 4, 100) == 4);
	close(fd);
	e = (struct lb_error){0};
	CHECK(lb_boot_load(&b, &s, &e) < 0);
	CHECK(e.code == LB_E_BOOT_STATE);
}

static void test_transitions(void)
{
	const char *env = unit_path("grubenv");
	struct lb_boot b;
	struct lb_error e = {0};
	struct lb_boot_state s;
	CHECK(sh("grub-editenv %s create", env) == 0);
	CHECK(lb_boot_open(&b, "grub", env, 3, &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(s.order_count == 0); /* a blank environment boots the recovery */

	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	CHECK(lb_boot_invalidate(&b, "main", &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(s.order_count == 0 && lb_boot_attempts_left(&s, "main") == 0);
	CHECK(lb_boot_mark_good(&b, "main", &e) < 0); /* an invalid main is never made good */

	CHECK(lb_boot_activate(&b, "A", "1.0", &e) == 0);
	CHECK(lb_boot_activate(&b, "B", "1.0", &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(s.order_count == 2 && !strcmp(s.order[0], "B") && !strcmp(s.order[1], "A"));
	CHECK(output_has("grub-editenv %s list", env, "LB_ORDER=B A recovery"));

	CHECK(lb_boot_set_oneshot_recovery(&b, true, &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0 && s.oneshot_recovery);
	CHECK(lb_boot_attempts_left(&s, "B") == 3);
	CHECK(lb_boot_activate(&b, "B", "1.0", &e) == 0); /* a fresh install clears a pending one-shot */
	CHECK(lb_boot_load(&b, &s, &e) == 0 && !s.oneshot_recovery);

	e = (struct lb_error){0};
	CHECK(lb_boot_activate(&b, "recovery", "1.0", &e) < 0);
	CHECK(lb_boot_open(&b, "lilo", env, 3, &e) < 0);
}

static void test_damaged_values(void)
{
	const char *env = unit_path("grubenv");
	struct lb_boot b;
	struct lb_error e = {0};
	struct lb_boot_state s;
	CHECK(sh("grub-editenv %s create && grub-editenv %s set 'LB_ORDER=main recovery' LB_main_LEFT=x7", env) == 0);
	CHECK(lb_boot_open(&b, "grub", env, 3, &e) == 0);
	CHECK(lb_boot_load(&b, &s, &e) == 0);
	CHECK(lb_boot_attempts_left(&s, "main") == 0); /* unreadable counts as none: recovery */
}

static void test_rpi_handover(void)
{
	const char *env = unit_path("lifeboat.env");
	struct lb_boot b;
	struct lb_error e = {0};
	struct lb_bootenv blank = {0};
	bool try_main;
	make_uboot_env(env);
	CHECK(lb_ubootenv_write(env, LB_UBOOTENV_SIZE_DEFAULT, &blank, &e) == 0);
	CHECK(lb_boot_open(&b, "rpi", env, 2, &e) == 0);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && !try_main); /* nothing installed */
	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	/* main never marks itself good: two trials, then the recovery stays */
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && try_main);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && try_main);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && !try_main);
	/* a healthy main resets; a requested recovery boot stays once, then hands over again */
	CHECK(lb_boot_activate(&b, "main", "1.0", &e) == 0);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && try_main);
	CHECK(lb_boot_mark_good(&b, "main", &e) == 0);
	CHECK(lb_boot_set_oneshot_recovery(&b, true, &e) == 0);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && !try_main);
	CHECK(lb_boot_rpi_handover(&b, "main", &try_main, &e) == 0 && try_main);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/bootctl/grub/grub-editenv", test_grub_with_grub_editenv},
		{"/bootctl/uboot/fw_printenv", test_uboot_with_fw_printenv},
		{"/bootctl/uboot/torn-write", test_uboot_torn_write},
		{"/bootctl/transitions", test_transitions},
		{"/bootctl/damaged-values", test_damaged_values},
		{"/bootctl/rpi/handover", test_rpi_handover},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
