/* The recovery kiosk: the reason from the kernel command line and its wording, when Enter may
 * start main, the address list, the screen drawn from made-up models at many sizes, the frame
 * diff (only changed rows, never a clear), the sanitizing of text from the status file, and
 * gathering from a real state directory. */
#include "kiosk-font.h"
#include "kiosk-frame.h"
#include "kiosk-model.h"
#include "kiosk-view.h"
#include "lib/state.h"
#include "unit.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A model as the kiosk would gather it on a device: two IPv4 addresses, IPv6, boot control. */
static void model_example(struct kiosk_model *m)
{
	*m = (struct kiosk_model){.version = "0.1.0", .now = 1764201600};
	snprintf(m->hostname, sizeof(m->hostname), "rov");
	kiosk_mdns_name(m->hostname, m->mdns_name, sizeof(m->mdns_name));
	struct in_addr a4;
	struct in6_addr a6;
	inet_pton(AF_INET, "192.168.2.2", &a4);
	kiosk_model_add_address(m, "eth0", AF_INET, &a4);
	inet_pton(AF_INET6, "fd00::2", &a6);
	kiosk_model_add_address(m, "eth0", AF_INET6, &a6);
	lb_state_load("/nonexistent", &m->state); /* the defaults: idle, main unknown */
	m->boot_configured = true;
	m->main_in_order = true;
	m->main_attempts_left = 3;
	m->boot_attempts = 3;
	snprintf(m->boot_slot, sizeof(m->boot_slot), "main");
}

static void set_writing(struct kiosk_model *m)
{
	m->state.state = LB_PHASE_WRITING;
	m->install_running = true;
	snprintf(m->state.bundle_version, sizeof(m->state.bundle_version), "2.0");
	snprintf(m->state.main_state, sizeof(m->state.main_state), "invalid");
	m->state.received = 1234567890;
	m->state.bundle_size = 2870000000;
	m->state.mbps = 25.1;
	m->state.eta_seconds = 64;
	m->state.updated = m->now;
}

/* A delta install of the same version: a 9.1 MB body crosses the tether, main gave 230 MB of
 * the 251 MB image (in place or copied), the header came in. Still copying: nothing received is
 * written yet, so written equals copied, and the rate waits for the body. */
static void set_delta_copying(struct kiosk_model *m)
{
	set_writing(m);
	m->state.delta = true;
	m->state.received = 4321;
	m->state.bundle_size = 9100000;
	m->state.image_total = 251000000;
	m->state.reused = 230000000;
	m->state.copied = m->state.written = 120000000;
	m->state.copy_total = 130000000;
	m->state.bundle_total = 70000000;
	m->state.mbps = 0;
	m->state.eta_seconds = -1;
}

/* Draws the model at a size; the screen's text, rows joined with newlines (a static buffer,
 * so that a failed CHECK leaks nothing). */
static const char *screen(const struct kiosk_model *m, const struct kiosk_ui *ui, unsigned w, unsigned h)
{
	static char text[(KIOSK_FRAME_MAX_WIDTH * 4 + 1) * 128];
	struct kiosk_frame f;
	size_t n = 0;
	if (kiosk_frame_init(&f, w, h) < 0)
		return NULL;
	kiosk_view_draw(m, ui, &f);
	for (unsigned row = 0; row < f.height && row < 128; row++) {
		n += kiosk_frame_row_text(&f, row, text + n, sizeof(text) - n - 1);
		text[n++] = '\n';
	}
	text[n] = '\0';
	kiosk_frame_free(&f);
	if (getenv("KIOSK_TEST_SHOW"))
		fputs(text, stderr);
	return text;
}

static bool has(const char *text, const char *needle)
{
	return text && strstr(text, needle);
}

/* True when the screen shows `word` in big letters of this scale: every row of the word, drawn
 * alone, is on it. */
static bool has_big(const char *text, const char *word, unsigned scale)
{
	struct kiosk_frame f;
	char row[KIOSK_FRAME_MAX_WIDTH * 4 + 1];
	bool found = text != NULL;
	if (kiosk_frame_init(&f, kiosk_font_width(word, scale), kiosk_font_height(scale)) < 0)
		return false;
	kiosk_font_draw(&f, 0, 0, word, scale, 0);
	for (unsigned r = 0; found && r < f.height; r++) {
		kiosk_frame_row_text(&f, r, row, sizeof(row));
		found = strstr(text, row) != NULL;
	}
	kiosk_frame_free(&f);
	return found;
}

static void test_reason_parse(void)
{
	char word[32];
	CHECK(lb_boot_reason_parse("BOOT_IMAGE=/vmlinuz ro quiet lifeboat.reason=requested\n", word,
				 sizeof(word)) == LB_BOOT_REASON_REQUESTED);
	CHECK(strcmp(word, "requested") == 0);
	CHECK(lb_boot_reason_parse("lifeboat.reason=attempts-exhausted", word, sizeof(word)) ==
	      LB_BOOT_REASON_ATTEMPTS_EXHAUSTED);
	CHECK(lb_boot_reason_parse("ro lifeboat.reason=no-main quiet", word, sizeof(word)) ==
	      LB_BOOT_REASON_NO_MAIN);
	CHECK(lb_boot_reason_parse("ro quiet", word, sizeof(word)) == LB_BOOT_REASON_NONE && !word[0]);
	CHECK(lb_boot_reason_parse("", word, sizeof(word)) == LB_BOOT_REASON_NONE);
	/* part of another parameter: not ours */
	CHECK(lb_boot_reason_parse("xlifeboat.reason=requested", word, sizeof(word)) == LB_BOOT_REASON_NONE);
	/* the last one wins, as with the kernel's own parameters */
	CHECK(lb_boot_reason_parse("lifeboat.reason=no-main lifeboat.reason=requested", word, sizeof(word)) ==
	      LB_BOOT_REASON_REQUESTED);
	CHECK(lb_boot_reason_parse("lifeboat.reason=requestedx", word, sizeof(word)) == LB_BOOT_REASON_OTHER);
	CHECK(strcmp(word, "requestedx") == 0);
}

static void test_reason_wording(void)
{
	struct kiosk_model m;
	char first[256], second[256];
	model_example(&m);
	m.reason = LB_BOOT_REASON_ATTEMPTS_EXHAUSTED;
	kiosk_view_reason(&m, first, sizeof(first), second, sizeof(second));
	CHECK(strcmp(first, "Main failed to boot 3 times") == 0 && !second[0]);
	m.reason = LB_BOOT_REASON_REQUESTED;
	kiosk_view_reason(&m, first, sizeof(first), second, sizeof(second));
	CHECK(strcmp(first, "Reboot into recovery was requested") == 0);
	m.reason = LB_BOOT_REASON_NO_MAIN;
	kiosk_view_reason(&m, first, sizeof(first), second, sizeof(second));
	CHECK(strcmp(first, "No system installed in main yet") == 0);
	/* a failed install comes first, the boot loader's reason second */
	snprintf(m.state.main_state, sizeof(m.state.main_state), "invalid");
	m.state.state = LB_PHASE_FAILED;
	kiosk_view_reason(&m, first, sizeof(first), second, sizeof(second));
	CHECK(strcmp(first, "The last install did not finish: main is not bootable") == 0);
	CHECK(strcmp(second, "No system installed in main yet") == 0);
	m.reason = LB_BOOT_REASON_NONE;
	kiosk_view_reason(&m, first, sizeof(first), second, sizeof(second));
	CHECK(strcmp(first, "The last install did not finish: main is not bootable") == 0 && !second[0]);
}

static void test_bootable(void)
{
	struct kiosk_model m;
	char why[512];
	model_example(&m);
	CHECK(kiosk_model_main_bootable(&m, why, sizeof(why)) && !why[0]);
	snprintf(m.state.main_state, sizeof(m.state.main_state), "valid");
	CHECK(kiosk_model_main_bootable(&m, why, sizeof(why)));
	m.main_attempts_left = 0;
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)) && strstr(why, "no boot attempts left"));
	m.main_in_order = false;
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)) && strstr(why, "not in the boot order"));
	m.boot_configured = false; /* without boot control, the status file alone decides */
	CHECK(kiosk_model_main_bootable(&m, why, sizeof(why)));
	m.boot_configured = true;
	m.main_in_order = true;
	m.main_attempts_left = 2;
	snprintf(m.boot_error, sizeof(m.boot_error), "cannot read grubenv");
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)) && strstr(why, "cannot read grubenv"));
	m.boot_error[0] = '\0';
	set_writing(&m);
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)) && strstr(why, "install is running"));
	m.state.state = LB_PHASE_FAILED;
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)) && strstr(why, "did not finish"));
}

static void test_addresses(void)
{
	struct kiosk_model m = {0};
	struct in_addr a4;
	struct in6_addr a6;
	const char *v6[] = {"fe80::1", "2001:db8::5", "::1"};
	const char *v4[] = {"10.0.0.9", "127.0.0.1", "10.0.0.30", "10.0.0.30", "10.0.0.4"};
	for (size_t i = 0; i < 3; i++) {
		inet_pton(AF_INET6, v6[i], &a6);
		CHECK(kiosk_model_add_address(&m, "eth0", AF_INET6, &a6));
	}
	for (size_t i = 0; i < 5; i++) {
		inet_pton(AF_INET, v4[i], &a4);
		CHECK(kiosk_model_add_address(&m, i == 0 ? "wlan0" : "eth0", AF_INET, &a4));
	}
	/* loopback left out, the duplicate once; IPv4 first, link-local last */
	CHECK(m.address_count == 5);
	CHECK(strcmp(m.addresses[0].text, "10.0.0.4") == 0); /* by number, not by text */
	CHECK(strcmp(m.addresses[1].text, "10.0.0.30") == 0);
	CHECK(strcmp(m.addresses[2].text, "10.0.0.9") == 0 && strcmp(m.addresses[2].interface, "wlan0") == 0);
	CHECK(strcmp(m.addresses[3].text, "2001:db8::5") == 0);
	CHECK(strcmp(m.addresses[4].text, "fe80::1") == 0 && m.addresses[4].link_local);
	for (unsigned i = 0; m.address_count < KIOSK_ADDRESSES_MAX; i++) {
		a4.s_addr = htonl(0x0a000100 + i);
		CHECK(kiosk_model_add_address(&m, "eth1", AF_INET, &a4));
	}
	a4.s_addr = htonl(0x0a0002ff);
	CHECK(!kiosk_model_add_address(&m, "eth1", AF_INET, &a4)); /* full */
}

static void test_mdns_name(void)
{
	char name[128];
	kiosk_mdns_name("rov", name, sizeof(name));
	CHECK(strcmp(name, "rov-recovery.local") == 0);
	kiosk_mdns_name("rov.example.org", name, sizeof(name));
	CHECK(strcmp(name, "rov-recovery.local") == 0);
	kiosk_mdns_name("rov-recovery", name, sizeof(name));
	CHECK(strcmp(name, "rov-recovery.local") == 0);
}

static void test_view_idle(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	model_example(&m);
	m.reason = LB_BOOT_REASON_REQUESTED;
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "LIFEBOAT RECOVERY  0.1.0"));
	CHECK(has(s, "Reboot into recovery was requested"));
	CHECK(has(s, "http://192.168.2.2/"));
	CHECK(has(s, "http://[fd00::2]/"));
	CHECK(has(s, "http://rov-recovery.local/"));
	CHECK(has(s, "Waiting for an update"));
	CHECK(has(s, "main first, 3 attempts left"));
	CHECK(has(s, "Enter  start main"));
}

static void test_view_writing(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	model_example(&m);
	set_writing(&m);
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Writing version 2.0 to main"));
	CHECK(has(s, "step 3 of 5"));
	CHECK(has(s, " 43 %"));
	CHECK(has(s, "\u2588\u2588\u2588\u2591")); /* the bar: filled, then empty */
	CHECK(has(s, "1.23 GB of 2.87 GB"));
	CHECK(has(s, "25.1 MB/s"));
	CHECK(has(s, "about 1 min 4 s left"));
	CHECK(has(s, "main cannot start: an install is running"));
	CHECK(!has(s, "No news"));
	CHECK(!has(s, "DELTA") && !has(s, " sent")); /* a full install: as before deltas */
	m.now += 30; /* the status file stopped changing */
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "No news from the install for 30 s"));
	/* read-back: the bar follows the bytes checked */
	m.state.state = LB_PHASE_READBACK;
	m.state.readback = 3000;
	m.state.image_total = 4000;
	CHECK(kiosk_view_percent(&m.state) == 75);
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, " 75 %") && has(s, "step 5 of 5"));
}

/* A delta install, phase by phase: what crosses the tether and what main gave, the copies while
 * they run, the bar over the body and then over the read-back, and at the end what was sent. */
static void test_view_delta(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	char line[2048];
	model_example(&m);

	/* the body's header is not in yet: no plan numbers to show */
	set_delta_copying(&m);
	m.state.state = LB_PHASE_RECEIVING;
	m.state.received = m.state.bundle_size = m.state.image_total = m.state.reused = 0;
	m.state.copied = m.state.written = 0;
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Receiving the bundle") && has(s, "step 1 of 5"));
	CHECK(has(s, "DELTA    sending only what main does not hold already"));
	CHECK(has(s, "0 B sent") && has(s, "  0 %"));

	/* copying: the title says so, the copies count, the body waits */
	set_delta_copying(&m);
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Copying what main already holds of version 2.0") && has(s, "step 3 of 5"));
	CHECK(has(s, "DELTA    sending 9 MB of 70 MB; 230 MB of the 251 MB image from main"));
	CHECK(has(s, "120 MB copied into place so far"));
	CHECK(has(s, "4 kB of 9 MB sent") && has(s, "  0 %"));
	CHECK(!has(s, "MB/s") && !has(s, "about"));
	CHECK(!has(s, "Writing version"));
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(
	    line,
	    "Copying what main already holds of version 2.0 0% (4 kB of 9 MB sent) | delta: sending 9 "
	    "MB of 70 MB; 230 MB of the 251 MB image from main; 120 MB copied into place so far | main:"));
	/* big letters on a big screen: the copies, not a percent that does not move */
	s = screen(&m, &ui, 200, 60);
	CHECK(has_big(s, "COPYING", 2) && !has_big(s, "WRITING", 2));

	/* the copies are done, the body comes in: the bar and the rate follow it */
	m.state.copied = 130000000;
	m.state.written = 150000000;
	m.state.received = 3000000;
	m.state.mbps = 2.5;
	m.state.eta_seconds = 2;
	CHECK(kiosk_view_percent(&m.state) == 32);
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Writing version 2.0 to main") && !has(s, "Copying"));
	CHECK(has_big(screen(&m, &ui, 200, 60), "WRITING 32%", 2));
	CHECK(has(s, " 32 %") && has(s, "\u2588\u2591"));
	CHECK(has(s, "3 MB of 9 MB sent  \u00b7  2.5 MB/s  \u00b7  about 2 s left"));
	CHECK(has(s, "sending 9 MB of 70 MB; 230 MB of the 251 MB image from main"));
	CHECK(has(s, "written 150 MB (130 MB copied from main)"));
	/* a delta without moved chunks: nothing copied, nothing said about copies */
	m.state.copied = m.state.copy_total = 0;
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Writing version 2.0 to main") && has(s, "written 150 MB\n") && !has(s, "copied"));
	m.state.copied = m.state.copy_total = 130000000;
	/* an older state file without the whole bundle's size: the line compares with the image */
	m.state.bundle_total = 0;
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "sending 9 MB, 230 MB of the 251 MB image reused from main"));
	m.state.bundle_total = 70000000;

	/* read-back: the bar over the image, which main's reused bytes are part of */
	m.state.state = LB_PHASE_READBACK;
	m.state.received = m.state.bundle_size;
	m.state.written = 160000000;
	m.state.readback = 100000000;
	m.state.mbps = 50;
	m.state.eta_seconds = 3;
	CHECK(kiosk_view_percent(&m.state) == 39);
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Reading version 2.0 back and checking it") && has(s, "step 5 of 5"));
	CHECK(has(s, " 39 %") && has(s, "100 MB of 251 MB  \u00b7  50.0 MB/s"));
	CHECK(!has(s, "251 MB sent"));
	CHECK(has(s, "DELTA    sent 9 MB of 70 MB; 230 MB of the 251 MB image from main"));
	CHECK(has(s, "written 160 MB  \u00b7  verified 100 MB of 251 MB"));

	/* done: what crossed the tether */
	m.state.state = LB_PHASE_DONE;
	m.install_running = false;
	m.state.readback = m.state.image_total;
	m.state.eta_seconds = 0;
	snprintf(m.state.main_state, sizeof(m.state.main_state), "valid");
	snprintf(m.state.main_version, sizeof(m.state.main_version), "2.0");
	snprintf(m.state.last_result, sizeof(m.state.last_result), "installed");
	snprintf(m.state.last_message, sizeof(m.state.last_message), "installed version 2.0");
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Installed version 2.0") && has(s, "100 %"));
	CHECK(has(s, "100 %\n           9 MB sent over the tether\n") && !has(s, "MB/s"));
	CHECK(has(s, "DELTA    230 MB of the 251 MB image reused from main\n"));
	CHECK(has(s, "written 160 MB  \u00b7  verified 251 MB of 251 MB"));
	CHECK(has(s, "Enter  start main"));
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(line,
		     "Installed version 2.0 (9 MB sent over the tether) | delta: 230 MB of the 251 MB image "
		     "reused from main; written 160 MB, verified 251 MB of 251 MB | main: valid 2.0"));

	/* a failed delta: its message says what to do, nothing else is claimed */
	m.state.state = LB_PHASE_FAILED;
	snprintf(m.state.message, sizeof(m.state.message), "connection lost at 40 %% of the delta upload");
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "connection lost at 40 % of the delta upload") && !has(s, "DELTA"));
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(!strstr(line, "delta:"));

	/* every size: no overrun, and the bar keeps its place above the delta lines */
	set_delta_copying(&m);
	m.state.received = 3000000;
	m.state.written = 150000000;
	for (unsigned w = 1; w <= 260; w += 7)
		for (unsigned h = 1; h <= 90; h += 3) {
			s = screen(&m, &ui, w, h);
			CHECK(s);
			if (kiosk_view_fits(w, h))
				CHECK(has(s, "LIFEBOAT") && has(s, "Enter") && has(s, "32 %"));
			if (w >= 80 && h >= 25)
				CHECK(has(s, "DELTA"));
		}
	/* a small screen keeps the summary on one line and drops the second */
	s = screen(&m, &ui, 60, 16);
	CHECK(has(s, "DELTA") && !has(s, "copied from main"));
}

static void test_view_done_and_failed(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	model_example(&m);
	m.state.state = LB_PHASE_DONE;
	snprintf(m.state.bundle_version, sizeof(m.state.bundle_version), "2.0");
	snprintf(m.state.main_state, sizeof(m.state.main_state), "valid");
	snprintf(m.state.main_version, sizeof(m.state.main_version), "2.0");
	m.state.main_installed_at = 1764201600;
	snprintf(m.state.last_result, sizeof(m.state.last_result), "installed");
	snprintf(m.state.last_message, sizeof(m.state.last_message), "installed version 2.0");
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Installed version 2.0"));
	CHECK(has(s, "100 %"));
	CHECK(has(s, "version 2.0, installed 2025-11-27 00:00 UTC"));
	CHECK(has(s, "Enter  start main"));

	m.state.state = LB_PHASE_FAILED;
	snprintf(m.state.main_state, sizeof(m.state.main_state), "invalid");
	snprintf(m.state.message, sizeof(m.state.message), "connection lost at 43 %%: upload again");
	snprintf(m.state.last_result, sizeof(m.state.last_result), "failed");
	snprintf(m.state.last_code, sizeof(m.state.last_code), "truncated");
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "The install failed"));
	CHECK(has(s, "connection lost at 43 %: upload again"));
	CHECK(has(s, "The last install did not finish: main is not bootable"));
	CHECK(has(s, "(truncated)"));
	CHECK(has(s, "main cannot start: the last install did not finish"));
}

/* Every size from tiny to huge draws without touching memory it must not (ASan), keeps the
 * header and the footer, and puts the essentials on the screen when it is big enough. */
static void test_view_sizes(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	model_example(&m);
	set_writing(&m);
	snprintf(m.state.message, sizeof(m.state.message), "%s", "a very long message that must wrap ");
	snprintf(ui.notice, sizeof(ui.notice), "Main cannot start: an install is running");
	for (unsigned w = 1; w <= 260; w += 7)
		for (unsigned h = 1; h <= 90; h += 3) {
			const char *s = screen(&m, &ui, w, h);
			CHECK(s);
			if (kiosk_view_fits(w, h)) {
				CHECK(has(s, "LIFEBOAT"));
				CHECK(has(s, "Enter"));
				CHECK(has(s, "43 %"));
				CHECK(has(s, "Main cannot start"));
			}
		}
	/* big letters on a big screen */
	const char *s = screen(&m, &ui, 200, 60);
	CHECK(has(s, "\u2580") && has(s, "\u2584"));
	CHECK(has(s, "http://rov-recovery.local/"));
	CHECK(!kiosk_view_fits(39, 25) && !kiosk_view_fits(80, 9) && kiosk_view_fits(40, 10));
}

static void test_view_recovery(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	char line[2048];
	model_example(&m);
	m.reason = LB_BOOT_REASON_REQUESTED;
	/* not checked (a development machine): no line at all */
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(!has(s, "RECOVERY image") && !has(s, "SHA-256"));

	/* intact: one line under the rest */
	m.image_check.result = LB_SELF_CHECK_OK;
	snprintf(m.image_check.sha256, sizeof(m.image_check.sha256), "%s",
		 "5ca55c9195e0cb41dfb3c49a63c658ff79e85de3065f812ce8682f674323b47e");
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "RECOVERY image intact (SHA-256 5ca55c9195e0... as built)"));
	m.image_check.result = LB_SELF_CHECK_UNKNOWN;
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "image not verified: no SHA-256 recorded"));

	/* a failure kept from an earlier boot, under this boot's reason */
	m.last_failure = (struct lb_boot_failure){.known = true, .time = 1764200000};
	snprintf(m.last_failure.reason, sizeof(m.last_failure.reason), "attempts-exhausted");
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Reboot into recovery was requested"));
	CHECK(has(s, "Last failure: main used up its boot attempts, 2025-11-26 23:33 UTC"));
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(line, "| Last failure: main used up its boot attempts, 2025-11-26 23:33 UTC"));
	/* this boot's failure is the reason shown already */
	m.last_failure.this_boot = true;
	m.reason = LB_BOOT_REASON_ATTEMPTS_EXHAUSTED;
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "Main failed to boot 3 times") && !has(s, "Last failure"));
	m.reason = LB_BOOT_REASON_STATE_UNWRITABLE;
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "The boot loader could not save main's boot attempt"));

	/* damaged: first, in red, on every screen that has the full view, and in the plain line */
	m.image_check.result = LB_SELF_CHECK_MISMATCH;
	set_writing(&m);
	for (unsigned w = 40; w <= 260; w += 11)
		for (unsigned h = 10; h <= 90; h += 5) {
			s = screen(&m, &ui, w, h);
			CHECK(has(s, "Recovery image damaged:")); /* "reflash the card" may wrap */
			CHECK(!has(s, "image intact"));
		}
	CHECK(has(screen(&m, &ui, 80, 25), "Recovery image damaged: reflash the card"));
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(line, "LIFEBOAT RECOVERY 0.1.0 | RECOVERY IMAGE DAMAGED: reflash the card | "));
	m.image_check.result = LB_SELF_CHECK_UNREADABLE;
	snprintf(m.image_check.message, sizeof(m.image_check.message), "cannot open /dev/vda2: No such file");
	s = screen(&m, &ui, 100, 40);
	CHECK(has(s, "image could not be checked: cannot open /dev/vda2"));
}

static void test_view_many_addresses(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {0};
	model_example(&m);
	struct in_addr a4;
	for (unsigned i = 0; i < 14; i++) {
		a4.s_addr = htonl(0x0a000100 + i);
		kiosk_model_add_address(&m, "eth1", AF_INET, &a4);
	}
	const char *s = screen(&m, &ui, 80, 20);
	CHECK(has(s, "... and 6 more")); /* what does not fit is counted */
	CHECK(has(s, "http://rov-recovery.local/") && has(s, "http://10.0.1.8/") &&
	      !has(s, "http://10.0.1.9/"));
	CHECK(has(s, "Waiting for an update") && has(s, "LAST")); /* and takes no other section's room */
	s = screen(&m, &ui, 80, 25);
	CHECK(!has(s, "more") && has(s, "http://[fd00::2]/")); /* a bigger screen has room for them all */
}

static void test_view_log(void)
{
	struct kiosk_model m;
	struct kiosk_ui ui = {.screen = KIOSK_SCREEN_LOG, .log_path = "/var/log/lifeboat.log"};
	model_example(&m);
	char log[8192] = "";
	for (int i = 0; i < 60; i++)
		snprintf(log + strlen(log), sizeof(log) - strlen(log),
			 "2025-11-27T10:00:%02dZ install: line %d\n", i, i);
	ui.log_text = log;
	const char *s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "line 59") && has(s, "line 40") && !has(s, "line 30\n"));
	CHECK(has(s, "Any key"));
	ui.log_text = NULL;
	ui.log_error = "not readable (/var/log/lifeboat.log: No such file or directory)";
	s = screen(&m, &ui, 80, 25);
	CHECK(has(s, "No such file"));
}

static char *diff_text(const struct kiosk_frame *a, const struct kiosk_frame *b, size_t *ret_size)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, ret_size);
	kiosk_frame_diff(a, b, f);
	fclose(f);
	return text;
}

static void test_frame_diff(void)
{
	struct kiosk_frame a, b;
	size_t size;
	CHECK(kiosk_frame_init(&a, 40, 10) == 0 && kiosk_frame_init(&b, 40, 10) == 0);
	kiosk_frame_put(&a, 4, 2, "hello", KIOSK_BOLD);
	kiosk_frame_put(&b, 4, 2, "hello", KIOSK_BOLD);
	char *t = diff_text(&a, &b, &size);
	CHECK(size == 0); /* nothing changed: nothing written */
	free(t);
	kiosk_frame_put(&b, 4, 2, "world", KIOSK_FG(KIOSK_RED));
	t = diff_text(&a, &b, &size);
	CHECK(strstr(t, "\033[5;1H") && strstr(t, "world") && strstr(t, ";31m"));
	CHECK(!strstr(t, "\033[2J") && !strstr(t, "\033[1;1H") && !strstr(t, "\033[6;1H"));
	free(t);
	t = diff_text(NULL, &b, &size); /* the first frame: every row, still no clear */
	CHECK(strstr(t, "\033[1;1H") && strstr(t, "\033[10;1H") && !strstr(t, "\033[2J"));
	free(t);
	kiosk_frame_free(&a);
	kiosk_frame_free(&b);
}

static void test_frame_sanitize(void)
{
	struct kiosk_frame f;
	char row[256];
	size_t size;
	CHECK(kiosk_frame_init(&f, 40, 2) == 0);
	/* an escape sequence in a status message, a C1 control, a wide character, broken UTF-8 */
	kiosk_frame_put(&f, 0, 0,
			"a\033[2Jb\xc2\x9b"
			"c\xe6\x97\xa5"
			"d\xff"
			"e\xc3\xa9",
			0);
	kiosk_frame_row_text(&f, 0, row, sizeof(row));
	CHECK(strcmp(row, "a [2Jb c?d?e\xc3\xa9") == 0);
	char *t = diff_text(NULL, &f, &size);
	CHECK(!strstr(t, "\033[2J") && !memchr(t, 0x9b, size));
	free(t);
	CHECK(kiosk_frame_put(&f, 1, 35, "0123456789", 0) == 5); /* clipped at the edge */
	CHECK(kiosk_text_width("\xc3\xa9t\xc3\xa9") == 3 && kiosk_text_prefix("\xc3\xa9t\xc3\xa9", 2) == 3);
	kiosk_frame_free(&f);
}

static void test_font(void)
{
	struct kiosk_frame f;
	char row[1024];
	CHECK(kiosk_font_width("AB", 1) == 11 && kiosk_font_width("AB", 2) == 22 &&
	      kiosk_font_width("", 1) == 0);
	CHECK(kiosk_font_height(1) == 4 && kiosk_font_height(2) == 7);
	CHECK(kiosk_frame_init(&f, 20, 5) == 0);
	kiosk_font_draw(&f, 0, 0, "l", 1, 0); /* lower case is drawn upper case: L */
	kiosk_frame_row_text(&f, 0, row, sizeof(row));
	CHECK(strcmp(row, "\u2588") == 0);
	kiosk_frame_row_text(&f, 3, row, sizeof(row));
	CHECK(strcmp(row, "\u2580\u2580\u2580\u2580\u2580") == 0);
	kiosk_font_draw(&f, 2, 15, "WIDE", 2, 0); /* clipped, no harm */
	kiosk_frame_free(&f);
}

static void test_status_line(void)
{
	struct kiosk_model m;
	char line[2048];
	model_example(&m);
	set_writing(&m);
	m.reason = LB_BOOT_REASON_ATTEMPTS_EXHAUSTED;
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(line, "LIFEBOAT RECOVERY 0.1.0"));
	CHECK(strstr(
	    line, "Writing version 2.0 to main 43% (1.23 GB of 2.87 GB, 25.1 MB/s, about 1 min 4 s left)"));
	CHECK(strstr(line, "why: Main failed to boot 3 times"));
	CHECK(strstr(line, "open http://rov-recovery.local/ http://192.168.2.2/ http://[fd00::2]/"));
	snprintf(m.state.message, sizeof(m.state.message), "bad\033[2J\xc3\xa9");
	m.state.state = LB_PHASE_FAILED;
	kiosk_view_status_line(&m, line, sizeof(line));
	CHECK(strstr(line, "The install failed: bad [2J??"));
	for (const char *p = line; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static void write_status(const char *state_line)
{
	struct lb_state s;
	lb_state_load(unit_dir, &s);
	s.state = LB_STATE_IDLE;
	if (!strcmp(state_line, "writing"))
		s.state = LB_PHASE_WRITING;
	snprintf(s.main_state, sizeof(s.main_state), "invalid");
	lb_state_save(unit_dir, &s);
}

static void test_gather(void)
{
	struct lb_config cfg;
	struct kiosk_model m;
	char path[600];
	lb_config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", unit_dir);
	snprintf(path, sizeof(path), "%s", unit_path("cmdline"));
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs("ro quiet lifeboat.reason=requested\n", f);
	fclose(f);
	struct kiosk_sources src = {.cfg = &cfg, .cmdline_path = path};

	/* "writing" with nobody holding the lock: the install died */
	write_status("writing");
	kiosk_model_gather(&m, &src);
	CHECK(m.reason == LB_BOOT_REASON_REQUESTED);
	CHECK(m.state.state == LB_PHASE_FAILED && strstr(m.state.message, "stopped unexpectedly"));
	CHECK(!m.install_running && !m.boot_configured);
	struct stat st;
	CHECK(stat(unit_path(LB_STATE_LOCK_FILE), &st) < 0); /* the kiosk made no lock file */
	CHECK(m.mdns_name[0] && strstr(m.mdns_name, ".local"));

	/* with the lock held, it is running */
	int fd;
	CHECK(lb_state_lock(unit_dir, &fd) == 0);
	kiosk_model_gather(&m, &src);
	CHECK(m.state.state == LB_PHASE_WRITING && m.install_running && kiosk_model_install_active(&m));
	close(fd);

	/* boot control whose environment file is missing: said, and Enter refused */
	src.boot_error = "unknown boot backend 'lilo' (grub, uboot or rpi)";
	write_status("idle");
	kiosk_model_gather(&m, &src);
	CHECK(m.boot_configured && strstr(m.boot_error, "lilo"));
	char why[600];
	CHECK(!kiosk_model_main_bootable(&m, why, sizeof(why)));

	/* the self-check's result and a failure kept in the log directory */
	snprintf(cfg.log_file, sizeof(cfg.log_file), "%s/lifeboat.log", unit_dir);
	struct lb_self_check check = {.result = LB_SELF_CHECK_OK, .time = 1};
	CHECK(lb_self_check_save(unit_dir, &check) == 0);
	f = fopen(unit_path(LB_BOOT_FAILURE_FILE), "w");
	CHECK(f);
	fputs("reason=no-main\ntime=1764200000\nboot_id=an-earlier-boot\n", f);
	fclose(f);
	kiosk_model_gather(&m, &src);
	CHECK(m.image_check.result == LB_SELF_CHECK_OK);
	CHECK(m.last_failure.known && !m.last_failure.this_boot && strcmp(m.last_failure.reason, "no-main") == 0);

	/* a missing command line file: no reason, no failure */
	src.cmdline_path = unit_path("missing");
	src.mdns_name = "lifeboat.local";
	kiosk_model_gather(&m, &src);
	CHECK(m.reason == LB_BOOT_REASON_NONE && strcmp(m.mdns_name, "lifeboat.local") == 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/kiosk/reason/parse", test_reason_parse},
	    {"/kiosk/reason/wording", test_reason_wording},
	    {"/kiosk/model/bootable", test_bootable},
	    {"/kiosk/model/addresses", test_addresses},
	    {"/kiosk/model/mdns-name", test_mdns_name},
	    {"/kiosk/model/gather", test_gather},
	    {"/kiosk/view/idle", test_view_idle},
	    {"/kiosk/view/writing", test_view_writing},
	    {"/kiosk/view/delta", test_view_delta},
	    {"/kiosk/view/done-and-failed", test_view_done_and_failed},
	    {"/kiosk/view/sizes", test_view_sizes},
	    {"/kiosk/view/recovery", test_view_recovery},
	    {"/kiosk/view/many-addresses", test_view_many_addresses},
	    {"/kiosk/view/log", test_view_log},
	    {"/kiosk/view/status-line", test_status_line},
	    {"/kiosk/frame/diff", test_frame_diff},
	    {"/kiosk/frame/sanitize", test_frame_sanitize},
	    {"/kiosk/font", test_font},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
