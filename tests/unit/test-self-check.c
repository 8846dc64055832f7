/* The recovery's self-check: finding its device (mountinfo, root=), the recorded hash from the
 * command line, each result on a squashfs made by mksquashfs (ok by the file system's own bytes
 * and by its padded file, mismatch, unknown, unreadable), the result file and its JSON. */
#include "lib/io.h"
#include "lib/self-check.h"
#include "unit.h"

#include <stdarg.h>

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", unit_dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* recovery.squashfs (padded, as mksquashfs writes it), its sha256sum and the hash of its own
 * bytes_used bytes, as hex in the files "file.sha256" and "own.sha256". */
static int make_recovery(void)
{
	return run("mkdir -p tree/etc && echo recovery >tree/etc/lifeboat-version && head -c 50000 /dev/urandom >tree/blob && "
		   "mksquashfs tree recovery.squashfs -noappend -quiet -no-progress -all-root >/dev/null && "
		   "sha256sum <recovery.squashfs | cut -c1-64 | tr -d '\\n' >file.sha256 && "
		   "head -c $(od -An -tu8 -j40 -N8 recovery.squashfs) recovery.squashfs | sha256sum | cut -c1-64 | tr -d '\\n' "
		   ">own.sha256");
}

static const char *read_text(const char *name)
{
	static char buf[4][256];
	static unsigned next;
	char *text = NULL, *b = buf[next++ % 4];
	b[0] = '\0';
	if (lb_read_file(unit_path(name), 200, &text, NULL) == 0)
		snprintf(b, 256, "%s", text);
	free(text);
	return b;
}

static void write_text(const char *name, const char *text)
{
	lb_write_file_atomic(unit_path(name), text, strlen(text), 0644);
}

static void test_mountinfo(void)
{
	unsigned major = 0, minor = 0;
	char source[64];
	const char *info = "22 1 254:2 / / ro,relatime shared:1 - squashfs /dev/vda2 ro,errors=continue\n"
			   "23 22 0:21 / /proc rw - proc proc rw\n"
			   "30 22 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw,mode=755\n";
	CHECK(lb_mountinfo_root(info, &major, &minor, source, sizeof(source)));
	CHECK(major == 254 && minor == 2 && strcmp(source, "/dev/vda2") == 0);
	/* the last mount on / wins (what is visible), and a line without the separator is fine */
	CHECK(lb_mountinfo_root("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n9 1 0:40 / / rw\n", &major, &minor, source,
				sizeof(source)));
	CHECK(major == 0 && minor == 40 && source[0] == '\0');
	CHECK(!lb_mountinfo_root("23 22 0:21 / /proc rw - proc proc rw\n", &major, &minor, source, sizeof(source)));
	CHECK(!lb_mountinfo_root("", &major, &minor, source, sizeof(source)));
}

static void test_cmdline_root(void)
{
	char dev[128];
	CHECK(lb_cmdline_root_device("root=/dev/vda2 ro console=ttyS0", dev, sizeof(dev)));
	CHECK(strcmp(dev, "/dev/vda2") == 0);
	CHECK(lb_cmdline_root_device("ro root=PARTLABEL=recovery", dev, sizeof(dev)));
	CHECK(strcmp(dev, "/dev/disk/by-partlabel/recovery") == 0);
	CHECK(lb_cmdline_root_device("root=PARTUUID=ABCD-02 quiet", dev, sizeof(dev)));
	CHECK(strcmp(dev, "/dev/disk/by-partuuid/abcd-02") == 0);
	CHECK(!lb_cmdline_root_device("ro quiet xroot=/dev/sda", dev, sizeof(dev)));
	CHECK(!lb_cmdline_root_device("root=", dev, sizeof(dev)));
}

/* Runs the check on recovery.squashfs with the given command line. */
static void check_with(const char *cmdline, const char *expected, struct lb_self_check *c)
{
	write_text("cmdline", cmdline);
	struct lb_self_check_options opt = {.device = unit_path("recovery.squashfs"), .expected = expected,
					    .cmdline_path = unit_path("cmdline")};
	lb_self_check_run(&opt, c);
}

static void test_results(void)
{
	struct lb_self_check c;
	char cmdline[256];
	CHECK(make_recovery() == 0);
	const char *own = read_text("own.sha256"), *file = read_text("file.sha256");
	CHECK(strlen(own) == 64 && strlen(file) == 64 && strcmp(own, file) != 0);

	/* the hash of the file system's own bytes */
	snprintf(cmdline, sizeof(cmdline), "root=/dev/vda2 ro lifeboat.sha256=%s quiet\n", own);
	check_with(cmdline, NULL, &c);
	CHECK(c.result == LB_SELF_CHECK_OK && strcmp(c.sha256, own) == 0 && c.hashed_bytes == c.bytes_used);
	CHECK(c.time > 0 && c.seconds >= 0 && strstr(c.message, "is the one built"));
	/* sha256sum of the padded file, as rootfs/build records it; upper case is the same hash */
	char upper[65];
	for (int i = 0; i < 64; i++)
		upper[i] = (char)(file[i] >= 'a' ? file[i] - 32 : file[i]);
	upper[64] = '\0';
	snprintf(cmdline, sizeof(cmdline), "lifeboat.sha256=%s", upper);
	check_with(cmdline, NULL, &c);
	CHECK(c.result == LB_SELF_CHECK_OK && strcmp(c.sha256, file) == 0 && c.hashed_bytes > c.bytes_used);
	CHECK(c.hashed_bytes % 4096 == 0);

	/* another hash: damaged, both hashes said */
	check_with("", "0000000000000000000000000000000000000000000000000000000000000000", &c);
	CHECK(c.result == LB_SELF_CHECK_MISMATCH);
	CHECK(strstr(c.message, "reflash the card") && strstr(c.message, own) && strstr(c.message, "00000000"));
	CHECK(strcmp(c.sha256, own) == 0 && strcmp(c.expected, "0000000000000000000000000000000000000000000000000000000000000000") == 0);
	/* --expect wins over the command line */
	check_with(cmdline, own, &c);
	CHECK(c.result == LB_SELF_CHECK_OK);

	/* nothing recorded, or not a hash: unknown, but hashed */
	check_with("root=/dev/vda2 ro", NULL, &c);
	CHECK(c.result == LB_SELF_CHECK_UNKNOWN && strcmp(c.sha256, own) == 0 && strstr(c.message, "no lifeboat.sha256="));
	check_with("lifeboat.sha256=12345", NULL, &c);
	CHECK(c.result == LB_SELF_CHECK_UNKNOWN && strstr(c.message, "not 64 hex digits"));

	/* damage in the image: the hash no longer matches */
	CHECK(run("printf x | dd of=recovery.squashfs bs=1 seek=5000 conv=notrunc status=none") == 0);
	snprintf(cmdline, sizeof(cmdline), "lifeboat.sha256=%s", own);
	check_with(cmdline, NULL, &c);
	CHECK(c.result == LB_SELF_CHECK_MISMATCH);
}

static void test_unreadable(void)
{
	struct lb_self_check c;
	struct lb_self_check_options opt = {.device = unit_path("missing"), .cmdline_path = unit_path("none")};
	lb_self_check_run(&opt, &c);
	CHECK(c.result == LB_SELF_CHECK_UNREADABLE && strstr(c.message, "cannot open"));
	CHECK(run("head -c 100000 /dev/urandom >random") == 0);
	opt.device = unit_path("random");
	lb_self_check_run(&opt, &c);
	CHECK(c.result == LB_SELF_CHECK_UNREADABLE && strstr(c.message, "no 'hsqs' magic") && !c.sha256[0]);

	/* no device given, none mounted at / in this mountinfo, no root=: nothing to check */
	write_text("mountinfo", "23 22 0:21 / /proc rw - proc proc rw\n");
	write_text("cmdline", "ro quiet");
	opt = (struct lb_self_check_options){.mountinfo_path = unit_path("mountinfo"),
					     .cmdline_path = unit_path("cmdline")};
	lb_self_check_run(&opt, &c);
	CHECK(c.result == LB_SELF_CHECK_UNREADABLE && strstr(c.message, "cannot tell which device"));
	/* root= is the fallback */
	CHECK(make_recovery() == 0);
	char cmdline[600];
	snprintf(cmdline, sizeof(cmdline), "root=%s", unit_path("recovery.squashfs"));
	write_text("cmdline", cmdline);
	lb_self_check_run(&opt, &c);
	CHECK(c.result == LB_SELF_CHECK_UNKNOWN && strcmp(c.device, unit_path("recovery.squashfs")) == 0);
}

static void test_save_load_json(void)
{
	struct lb_self_check c, d;
	CHECK(lb_self_check_load(unit_dir, &d) == 0 && d.result == LB_SELF_CHECK_NOT_RUN);
	CHECK(make_recovery() == 0);
	check_with("", "0000000000000000000000000000000000000000000000000000000000000000", &c);
	snprintf(c.message, sizeof(c.message), "recovery image damaged: reflash the card\nsecond line");
	CHECK(lb_self_check_save(unit_dir, &c) == 0);
	CHECK(lb_self_check_load(unit_dir, &d) == 0);
	CHECK(d.result == LB_SELF_CHECK_MISMATCH && strcmp(d.sha256, c.sha256) == 0 && strcmp(d.expected, c.expected) == 0);
	CHECK(strcmp(d.device, c.device) == 0 && d.bytes_used == c.bytes_used && d.time == c.time);
	CHECK(strstr(d.message, "reflash") && !strchr(d.message, '\n'));

	char *json = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&json, &size);
	lb_self_check_json(&d, f);
	fclose(f);
	bool ok = strncmp(json, "{\"check\":\"mismatch\",\"device\":", 29) == 0 && strstr(json, "\"expected\":\"0000") &&
		  strstr(json, "\"bytes_used\":") && json[size - 1] == '}';
	free(json);
	CHECK(ok);
	CHECK(strcmp(lb_self_check_result_name(LB_SELF_CHECK_UNKNOWN), "unknown") == 0);
	CHECK(strcmp(lb_self_check_result_name(LB_SELF_CHECK_NOT_RUN), "not-run") == 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/self-check/mountinfo", test_mountinfo},
	    {"/self-check/cmdline-root", test_cmdline_root},
	    {"/self-check/results", test_results},
	    {"/self-check/unreadable", test_unreadable},
	    {"/self-check/save-load-json", test_save_load_json},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
