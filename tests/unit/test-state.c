/* The state file: round trip, newlines kept out of values, a new install's start, the lock,
 * JSON shape. */
#include "lib/state.h"
#include "unit.h"

#include <errno.h>
#include <unistd.h>

static void test_roundtrip(void)
{
	struct lb_state s, t;
	CHECK(lb_state_load(unit_dir, &s) == 0); /* missing file: defaults */
	CHECK(s.state == LB_STATE_IDLE && strcmp(s.main_state, "unknown") == 0);
	s.state = LB_PHASE_WRITING;
	s.received = 123456789012ull;
	s.bundle_size = 999999999999ull;
	s.mbps = 42.5;
	snprintf(s.message, sizeof(s.message), "line one\nline two");
	snprintf(s.main_version, sizeof(s.main_version), "2.0");
	s.main_installed_at = 1700000000;
	CHECK(lb_state_save(unit_dir, &s) == 0);
	CHECK(lb_state_load(unit_dir, &t) == 0);
	CHECK(t.state == LB_PHASE_WRITING);
	CHECK(t.received == 123456789012ull && t.bundle_size == 999999999999ull);
	CHECK(t.mbps > 42.4 && t.mbps < 42.6);
	CHECK(strcmp(t.message, "line one line two") == 0);
	CHECK(strcmp(t.main_version, "2.0") == 0 && t.main_installed_at == 1700000000);
	CHECK(lb_state_active(&t));
}

static void test_begin(void)
{
	/* a new install starts from nothing of the last one's progress, a delta's numbers above all,
	 * and keeps how the last one ended and what main holds */
	struct lb_state s;
	lb_state_load(unit_dir, &s);
	s.state = LB_PHASE_DONE;
	s.delta = true;
	s.received = s.bundle_size = 100;
	s.reused = s.copied = s.copy_total = 4096;
	s.bundle_total = s.resumed = 200;
	s.mbps = 3.5;
	snprintf(s.bundle_version, sizeof(s.bundle_version), "2.0");
	snprintf(s.last_result, sizeof(s.last_result), "installed");
	snprintf(s.main_version, sizeof(s.main_version), "2.0");
	lb_state_begin(&s, "connecting to the server");
	CHECK(s.state == LB_PHASE_RECEIVING && strcmp(s.message, "connecting to the server") == 0);
	CHECK(!s.delta && s.received == 0 && s.bundle_size == 0 && s.resumed == 0);
	CHECK(s.reused == 0 && s.copied == 0 && s.copy_total == 0 && s.bundle_total == 0);
	CHECK(s.mbps == 0 && s.eta_seconds == -1 && s.started > 0 && s.bundle_version[0] == '\0');
	CHECK(strcmp(s.last_result, "installed") == 0 && strcmp(s.main_version, "2.0") == 0);
}

static void test_lock(void)
{
	int a = -1, b = -1;
	CHECK(!lb_state_locked(unit_dir));
	CHECK(lb_state_lock(unit_dir, &a) == 0);
	CHECK(lb_state_locked(unit_dir));
	CHECK(lb_state_lock(unit_dir, &b) == -EBUSY);
	close(a);
	CHECK(!lb_state_locked(unit_dir));
	CHECK(lb_state_lock(unit_dir, &b) == 0);
	close(b);
}

static void test_json(void)
{
	struct lb_state s;
	lb_state_load(unit_dir, &s);
	snprintf(s.last_message, sizeof(s.last_message), "quote \" and backslash \\");
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	struct lb_recovery_report recovery = {.version = "0.1.0"};
	lb_state_json(&s, &recovery, NULL, f);
	fclose(f);
	CHECK(strstr(text, "\"state\":\"idle\"") != NULL);
	CHECK(strstr(text, "quote \\\" and backslash \\\\") != NULL);
	CHECK(strstr(text, "\"recovery_version\":\"0.1.0\"") != NULL);
	CHECK(strstr(text, "\"recovery\":{\"version\":\"0.1.0\",\"boot_reason\":\"\"}") != NULL);
	free(text);

	/* the recovery's own part, with a failure kept from another boot and the image's check */
	struct lb_boot_failure failure = {.known = true, .time = 1764190000, .reason = "attempts-exhausted"};
	struct lb_self_check image = {.result = LB_SELF_CHECK_MISMATCH, .sha256 = "ab", .expected = "cd"};
	recovery = (struct lb_recovery_report){.version = "0.1.0", .boot_reason = "requested",
					       .last_failure = &failure, .image = &image};
	f = open_memstream(&text, &size);
	lb_state_json(&s, &recovery, NULL, f);
	fclose(f);
	bool ok = strstr(text, "\"recovery\":{\"version\":\"0.1.0\",\"boot_reason\":\"requested\",\"last_failure\":{"
			       "\"reason\":\"attempts-exhausted\",\"text\":\"main used up its boot attempts\",\"time\":1764190000,"
			       "\"this_boot\":false},\"image\":{\"check\":\"mismatch\",\"device\":\"\",\"sha256\":\"ab\",\"expected\":\"cd\",") &&
		  strstr(text, "\"recovery_version\":\"0.1.0\"");
	free(text);
	CHECK(ok);
}

static void test_merge_boot(void)
{
	struct lb_state s;
	struct lb_boot_state boot = {.order_count = 1, .order = {"main"}, .left = {2}, .version = {"4.2"}};
	lb_state_load(unit_dir, &s);
	lb_state_merge_boot(&s, &boot, "main");
	CHECK(strcmp(s.main_state, "valid") == 0 && strcmp(s.main_version, "4.2") == 0);
	/* what the status file knows wins: an install that began since */
	snprintf(s.main_state, sizeof(s.main_state), "invalid");
	lb_state_merge_boot(&s, &boot, "main");
	CHECK(strcmp(s.main_state, "invalid") == 0);
	lb_state_load(unit_dir, &s);
	boot.order_count = 0;
	lb_state_merge_boot(&s, &boot, "main");
	CHECK(strcmp(s.main_state, "unknown") == 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/state/roundtrip", test_roundtrip},
		{"/state/begin", test_begin},
		{"/state/lock", test_lock},
		{"/state/json", test_json},
		{"/state/merge-boot", test_merge_boot},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
