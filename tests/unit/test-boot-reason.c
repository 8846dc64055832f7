/* Why the recovery was booted: the command line parameter (as the kernel reads its own), the
 * wording, and the last failure kept across boots: a failure replaces it, a requested boot does
 * not, the same boot recorded twice keeps its first time, and it knows whether it is this boot's. */
#include "lib/boot-reason.h"
#include "lib/cmdline.h"
#include "lib/io.h"
#include "unit.h"

static void test_cmdline_value(void)
{
	char v[16];
	CHECK(lb_cmdline_value("BOOT_IMAGE=/vmlinuz root=/dev/vda2 ro\n", "root", v, sizeof(v)));
	CHECK(strcmp(v, "/dev/vda2") == 0);
	CHECK(lb_cmdline_value("a=1 a=2", "a", v, sizeof(v)) && strcmp(v, "2") == 0); /* the last one wins */
	CHECK(!lb_cmdline_value("xa=1 ab=2 a", "a", v, sizeof(v)) && v[0] == '\0');
	CHECK(lb_cmdline_value("a=", "a", v, sizeof(v)) && v[0] == '\0');
	CHECK(lb_cmdline_value("a=0123456789abcdefXYZ", "a", v, sizeof(v)) && strcmp(v, "0123456789abcde") == 0);
	CHECK(lb_cmdline_value("x=1\tlifeboat.slot=main\n", "lifeboat.slot", v, sizeof(v)) && strcmp(v, "main") == 0);
}

static void test_parse(void)
{
	char word[LB_BOOT_REASON_WORD_MAX];
	CHECK(lb_boot_reason_parse("ro quiet lifeboat.reason=requested\n", word, sizeof(word)) ==
	      LB_BOOT_REASON_REQUESTED && strcmp(word, "requested") == 0);
	CHECK(lb_boot_reason_parse("lifeboat.reason=attempts-exhausted", word, sizeof(word)) ==
	      LB_BOOT_REASON_ATTEMPTS_EXHAUSTED);
	CHECK(lb_boot_reason_parse("lifeboat.reason=no-main", word, sizeof(word)) == LB_BOOT_REASON_NO_MAIN);
	CHECK(lb_boot_reason_parse("lifeboat.reason=state-unwritable", word, sizeof(word)) ==
	      LB_BOOT_REASON_STATE_UNWRITABLE);
	CHECK(lb_boot_reason_parse("lifeboat.reason=flood", word, sizeof(word)) == LB_BOOT_REASON_OTHER &&
	      strcmp(word, "flood") == 0);
	CHECK(lb_boot_reason_parse("lifeboat.reason=\x01\xff", word, sizeof(word)) == LB_BOOT_REASON_OTHER &&
	      strcmp(word, "??") == 0);
	CHECK(lb_boot_reason_parse("ro quiet", word, sizeof(word)) == LB_BOOT_REASON_NONE && !word[0]);
	CHECK(lb_boot_reason_parse("xlifeboat.reason=requested", word, sizeof(word)) == LB_BOOT_REASON_NONE);
	CHECK(lb_boot_reason_is_failure(LB_BOOT_REASON_ATTEMPTS_EXHAUSTED));
	CHECK(lb_boot_reason_is_failure(LB_BOOT_REASON_OTHER));
	CHECK(!lb_boot_reason_is_failure(LB_BOOT_REASON_REQUESTED) && !lb_boot_reason_is_failure(LB_BOOT_REASON_NONE));
	CHECK(strcmp(lb_boot_reason_text("attempts-exhausted"), "main used up its boot attempts") == 0);
	CHECK(strcmp(lb_boot_reason_text(""), "no reason given") == 0);
}

static void test_record(void)
{
	struct lb_boot_failure f;
	bool recorded;
	CHECK(lb_boot_failure_load(unit_dir, "boot-1", &f) == 0 && !f.known);
	/* a requested boot keeps nothing */
	CHECK(lb_boot_failure_record(unit_dir, "lifeboat.reason=requested", "boot-1", 1000, &recorded) == 0 && !recorded);
	CHECK(lb_boot_failure_load(unit_dir, "boot-1", &f) == 0 && !f.known);
	/* a failure is kept, and is this boot's */
	CHECK(lb_boot_failure_record(unit_dir, "ro lifeboat.reason=attempts-exhausted", "boot-2", 2000, &recorded) == 0);
	CHECK(recorded);
	CHECK(lb_boot_failure_load(unit_dir, "boot-2", &f) == 0);
	CHECK(f.known && f.this_boot && f.time == 2000 && strcmp(f.reason, "attempts-exhausted") == 0);
	/* the same boot again: its first time stays */
	CHECK(lb_boot_failure_record(unit_dir, "lifeboat.reason=attempts-exhausted", "boot-2", 2500, &recorded) == 0);
	CHECK(lb_boot_failure_load(unit_dir, "boot-2", &f) == 0 && f.time == 2000);
	/* a later boot by request: the failure is still there, from another boot */
	CHECK(lb_boot_failure_record(unit_dir, "lifeboat.reason=requested", "boot-3", 3000, &recorded) == 0 && !recorded);
	CHECK(lb_boot_failure_load(unit_dir, "boot-3", &f) == 0);
	CHECK(f.known && !f.this_boot && f.time == 2000 && strcmp(f.reason, "attempts-exhausted") == 0);
	/* no reason at all keeps nothing either; the next failure replaces the old one */
	CHECK(lb_boot_failure_record(unit_dir, "ro", "boot-4", 4000, &recorded) == 0 && !recorded);
	CHECK(lb_boot_failure_record(unit_dir, "lifeboat.reason=no-main", "boot-5", 5000, &recorded) == 0 && recorded);
	CHECK(lb_boot_failure_load(unit_dir, "boot-6", &f) == 0 && f.time == 5000 && strcmp(f.reason, "no-main") == 0);

	char *json = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&json, &size);
	lb_boot_failure_json(&f, out);
	fputc(' ', out);
	struct lb_boot_failure none = {0};
	lb_boot_failure_json(&none, out);
	fclose(out);
	bool ok = strcmp(json, "{\"reason\":\"no-main\",\"text\":\"no bootable main system\",\"time\":5000,"
			       "\"this_boot\":false} null") == 0;
	free(json);
	CHECK(ok);

	/* a directory that cannot be written: an error, not a crash */
	CHECK(lb_boot_failure_record(unit_path("missing/dir"), "lifeboat.reason=no-main", "b", 1, &recorded) < 0);
	CHECK(!recorded);
}

static void test_log_dir(void)
{
	char dir[64];
	lb_log_dir("/var/log/lifeboat/lifeboat.log", dir, sizeof(dir));
	CHECK(strcmp(dir, "/var/log/lifeboat") == 0);
	lb_log_dir("/lifeboat.log", dir, sizeof(dir));
	CHECK(strcmp(dir, "/") == 0);
	lb_log_dir("lifeboat.log", dir, sizeof(dir));
	CHECK(strcmp(dir, ".") == 0);
	char id[40];
	lb_boot_id(id, sizeof(id));
	CHECK(strlen(id) == 36); /* the kernel's boot_id: a UUID */
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/boot-reason/cmdline-value", test_cmdline_value},
	    {"/boot-reason/parse", test_parse},
	    {"/boot-reason/record", test_record},
	    {"/boot-reason/log-dir", test_log_dir},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
