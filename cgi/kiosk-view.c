#include "kiosk-view.h"
#include "kiosk-font.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define STYLE_HEADER (KIOSK_FG(KIOSK_WHITE) | KIOSK_BG(KIOSK_BLUE) | KIOSK_BOLD)
#define STYLE_FOOTER (KIOSK_FG(KIOSK_BLACK) | KIOSK_BG(KIOSK_WHITE))
#define STYLE_KEY (KIOSK_FG(KIOSK_BLUE) | KIOSK_BG(KIOSK_WHITE) | KIOSK_BOLD)
#define STYLE_LABEL (KIOSK_FG(KIOSK_CYAN) | KIOSK_BOLD)
#define STYLE_TEXT ((kiosk_style)0)
#define STYLE_STRONG KIOSK_BOLD
#define STYLE_DIM KIOSK_DIM
#define STYLE_GOOD (KIOSK_FG(KIOSK_GREEN) | KIOSK_BOLD)
#define STYLE_BUSY (KIOSK_FG(KIOSK_YELLOW) | KIOSK_BOLD)
#define STYLE_BAD (KIOSK_FG(KIOSK_RED) | KIOSK_BOLD)
#define STYLE_BAR KIOSK_FG(KIOSK_GREEN)

#define LABEL_WIDTH 9	    /* "UPDATE" and room after it */
#define CONTENT_MAX 100	    /* wider screens center a column of this width */
#define LINE_MAX_BYTES 1024 /* one screen line of text, before clipping */
#define SEPARATOR "  \u00b7  "

static const char title[] = "LIFEBOAT RECOVERY";

bool kiosk_view_fits(unsigned width, unsigned height)
{
	return width >= KIOSK_VIEW_MIN_WIDTH && height >= KIOSK_VIEW_MIN_HEIGHT;
}

/* ---- words and numbers ---- */

unsigned kiosk_view_percent(const struct lb_state *s)
{
	uint64_t part = s->state == LB_PHASE_READBACK ? s->readback : s->received;
	uint64_t whole = s->state == LB_PHASE_READBACK ? s->image_total : s->bundle_size;
	if (s->state == LB_PHASE_DONE)
		return 100;
	if (!whole)
		return 0;
	return part >= whole ? 100 : (unsigned)(part * 100 / whole);
}

static void format_bytes(uint64_t n, char *ret, size_t size)
{
	if (n >= 10000000000ull)
		snprintf(ret, size, "%.1f GB", (double)n / 1e9);
	else if (n >= 1000000000ull)
		snprintf(ret, size, "%.2f GB", (double)n / 1e9);
	else if (n >= 1000000ull)
		snprintf(ret, size, "%" PRIu64 " MB", n / 1000000);
	else if (n >= 1000ull)
		snprintf(ret, size, "%" PRIu64 " kB", n / 1000);
	else
		snprintf(ret, size, "%" PRIu64 " B", n);
}

static void format_eta(int64_t s, char *ret, size_t size)
{
	if (s < 0)
		snprintf(ret, size, "%s", "");
	else if (s < 60)
		snprintf(ret, size, "about %" PRId64 " s left", s);
	else if (s < 600)
		snprintf(ret, size, "about %" PRId64 " min %" PRId64 " s left", s / 60, s % 60);
	else if (s < 3600)
		snprintf(ret, size, "about %" PRId64 " min left", (s + 30) / 60);
	else
		snprintf(ret, size, "about %" PRId64 " h %" PRId64 " min left", s / 3600, s / 60 % 60);
}

static void format_time(int64_t t, char *ret, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(ret, size, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(ret, size, "%s", "");
}

static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

static bool main_invalid(const struct kiosk_model *m)
{
	return !strcmp(m->state.main_state, "invalid");
}

static void boot_reason(const struct kiosk_model *m, char *ret, size_t size)
{
	switch (m->reason) {
	case LB_BOOT_REASON_REQUESTED:
		snprintf(ret, size, "Reboot into recovery was requested");
		break;
	case LB_BOOT_REASON_ATTEMPTS_EXHAUSTED:
		snprintf(ret, size, "Main failed to boot %u times", m->boot_attempts);
		break;
	case LB_BOOT_REASON_NO_MAIN:
		snprintf(ret, size, "No system installed in main yet");
		break;
	case LB_BOOT_REASON_STATE_UNWRITABLE:
		snprintf(ret, size, "The boot loader could not save main's boot attempt");
		break;
	case LB_BOOT_REASON_OTHER:
		snprintf(ret, size, "The boot loader gave the reason \"%s\"", m->reason_word);
		break;
	case LB_BOOT_REASON_NONE:
		snprintf(ret, size, "%s", "");
		break;
	}
}

void kiosk_view_reason(const struct kiosk_model *m, char *ret, size_t size, char *ret_second,
		       size_t second_size)
{
	char boot[128];
	boot_reason(m, boot, sizeof(boot));
	if (ret_second && second_size)
		ret_second[0] = '\0';
	/* A failed install in this recovery is why main cannot start now, whatever brought the
	 * device here; the boot loader's reason comes second. */
	if (main_invalid(m) && !kiosk_model_install_active(m)) {
		snprintf(ret, size, "The last install did not finish: main is not bootable");
		if (ret_second && second_size)
			snprintf(ret_second, second_size, "%s", boot);
	} else
		snprintf(ret, size, "%s", boot);
}

static bool image_damaged(const struct kiosk_model *m)
{
	return m->image_check.result == LB_SELF_CHECK_MISMATCH;
}

void kiosk_view_image_check(const struct kiosk_model *m, char *ret, size_t size, bool *ret_bad)
{
	const struct lb_self_check *c = &m->image_check;
	*ret_bad = c->result == LB_SELF_CHECK_MISMATCH || c->result == LB_SELF_CHECK_UNREADABLE;
	switch (c->result) {
	case LB_SELF_CHECK_OK:
		snprintf(ret, size, "image intact (SHA-256 %.12s... as built)", c->sha256);
		break;
	case LB_SELF_CHECK_MISMATCH:
		snprintf(ret, size, "%s", "Recovery image damaged: reflash the card");
		break;
	case LB_SELF_CHECK_UNKNOWN:
		snprintf(ret, size, "%s", "image not verified: no SHA-256 recorded on the boot command line");
		break;
	case LB_SELF_CHECK_UNREADABLE:
		snprintf(ret, size, "image could not be checked: %s", c->message);
		break;
	default:
		snprintf(ret, size, "%s", "");
		break;
	}
}

void kiosk_view_last_failure(const struct kiosk_model *m, char *ret, size_t size)
{
	char when[64];
	const struct lb_boot_failure *f = &m->last_failure;
	/* this boot's failure is the reason shown already */
	if (!f->known || f->this_boot) {
		snprintf(ret, size, "%s", "");
		return;
	}
	format_time(f->time, when, sizeof(when));
	snprintf(ret, size, "Last failure: %s%s%s", lb_boot_reason_text(f->reason), *when ? ", " : "", when);
}

/* A delta install copies the chunks main holds at another place before it reads on: the copies
 * add to `written` and `copied` alike, so while nothing received has been written yet the two
 * are equal (lib/install.c, copy_planned). The state file carries no copy total, so this is how
 * the kiosk tells the copies from the upload. */
static bool delta_copying(const struct lb_state *s)
{
	return s->delta && s->state == LB_PHASE_WRITING && s->copied < s->copy_total;
}

/* What the install is doing, as a technician would say it. */
static void phase_title(const struct kiosk_model *m, char *ret, size_t size, kiosk_style *ret_style)
{
	const struct lb_state *s = &m->state;
	const char *v = s->bundle_version;
	*ret_style = STYLE_BUSY;
	switch (s->state) {
	case LB_PHASE_RECEIVING:
		snprintf(ret, size, "Receiving the bundle");
		break;
	case LB_PHASE_VERIFYING:
		snprintf(ret, size, "Checking the signature%s%s", *v ? " of version " : "", v);
		break;
	case LB_PHASE_WRITING:
		if (delta_copying(s))
			snprintf(ret, size, "Copying what main already holds of %s%s",
				 *v ? "version " : "the update", v);
		else
			snprintf(ret, size, "Writing %s%s to main", *v ? "version " : "the update", v);
		break;
	case LB_PHASE_SYNCING:
		snprintf(ret, size, "Flushing %s%s to the card", *v ? "version " : "the update", v);
		break;
	case LB_PHASE_READBACK:
		snprintf(ret, size, "Reading %s%s back and checking it", *v ? "version " : "the update", v);
		break;
	case LB_PHASE_DONE:
		snprintf(ret, size, "Installed %s%s", *v ? "version " : "the update", v);
		*ret_style = STYLE_GOOD;
		break;
	case LB_PHASE_FAILED:
		snprintf(ret, size, "The install failed");
		*ret_style = STYLE_BAD;
		break;
	default:
		snprintf(ret, size, "Waiting for an update");
		*ret_style = STYLE_STRONG;
		break;
	}
}

/* The state in big letters: one or two words a person across the room can read. */
static void big_state(const struct kiosk_model *m, bool with_percent, char *ret, size_t size,
		      kiosk_style *ret_style)
{
	static const char *const words[_LB_PHASE_MAX] = {
	    [LB_PHASE_RECEIVING] = "RECEIVING", [LB_PHASE_VERIFYING] = "VERIFYING",
	    [LB_PHASE_WRITING] = "WRITING",	[LB_PHASE_SYNCING] = "SYNCING",
	    [LB_PHASE_READBACK] = "CHECKING",	[LB_PHASE_DONE] = "INSTALLED",
	    [LB_PHASE_FAILED] = "FAILED",
	};
	int st = m->state.state;
	phase_title(m, ret, size, ret_style);
	if (st < 0 || st >= _LB_PHASE_MAX) {
		snprintf(ret, size, "%s", main_invalid(m) ? "MAIN INVALID" : "READY");
		*ret_style = main_invalid(m) ? STYLE_BAD : KIOSK_FG(KIOSK_CYAN) | KIOSK_BOLD;
		return;
	}
	/* the percent follows the upload, which waits while the copies run */
	if (delta_copying(&m->state))
		snprintf(ret, size, "%s", "COPYING");
	else if (with_percent && (st == LB_PHASE_WRITING || st == LB_PHASE_READBACK))
		snprintf(ret, size, "%s %u%%", words[st], kiosk_view_percent(&m->state));
	else
		snprintf(ret, size, "%s", words[st]);
}

static int phase_step(int state)
{
	return state >= LB_PHASE_RECEIVING && state <= LB_PHASE_READBACK ? state - LB_PHASE_RECEIVING + 1 : 0;
}

/* "1.20 GB of 2.80 GB · 25.1 MB/s · about 1 min 4 s left" */
static void progress_details(const struct kiosk_model *m, const char *sep, char *ret, size_t size)
{
	const struct lb_state *s = &m->state;
	char a[32], b[32], eta[64];
	bool readback = s->state == LB_PHASE_READBACK;
	format_bytes(readback ? s->readback : s->received, a, sizeof(a));
	format_bytes(readback ? s->image_total : s->bundle_size, b, sizeof(b));
	format_eta(s->eta_seconds, eta, sizeof(eta));
	ret[0] = '\0';
	/* a delta upload's body is only part of the bundle: say that it is what is sent, and at the
	 * end what crossed the tether */
	if (s->delta && s->state == LB_PHASE_DONE)
		append(ret, size, "%s sent over the tether", a);
	else if ((readback ? s->image_total : s->bundle_size) > 0)
		append(ret, size, "%s of %s%s", a, b, s->delta && !readback ? " sent" : "");
	else
		append(ret, size, "%s %s", a, s->delta ? "sent" : "received");
	if (s->mbps > 0 && s->state != LB_PHASE_DONE)
		append(ret, size, "%s%.1f MB/s", sep, s->mbps);
	if (*eta && s->state != LB_PHASE_DONE)
		append(ret, size, "%s%s", sep, eta);
}

/* A delta install in a line: what crosses the tether and what main gave, e.g.
 * "sending 9 MB of 70 MB; 230 MB of the 251 MB image from main" (the body of the whole bundle;
 * "sending 9 MB, 230 MB of the 251 MB image reused from main" from a state that does not know
 * the whole bundle's size); "sent ..." once the whole
 * body is in; at the end only what main gave, under what crossed the tether (progress_details).
 * `ret_more` (may be NULL) gets how far the writing is: the copies while they run, then written
 * and, from the read-back on, verified. Both "" for a full install. */
static void delta_summary(const struct lb_state *s, const char *sep, char *ret, size_t size, char *ret_more,
			  size_t more_size)
{
	char send[32], reused[32], image[32], copied[32], written[32], verified[32];
	bool sent =
	    s->state == LB_PHASE_SYNCING || s->state == LB_PHASE_READBACK || s->state == LB_PHASE_DONE;
	ret[0] = '\0';
	if (ret_more && more_size)
		ret_more[0] = '\0';
	if (!s->delta)
		return;
	format_bytes(s->bundle_size, send, sizeof(send));
	format_bytes(s->reused, reused, sizeof(reused));
	format_bytes(s->image_total, image, sizeof(image));
	format_bytes(s->copied, copied, sizeof(copied));
	format_bytes(s->written, written, sizeof(written));
	format_bytes(s->readback, verified, sizeof(verified));
	/* until the header is in, the device has not said what its plan holds */
	if (!s->bundle_size)
		snprintf(ret, size, "%s", "sending only what main does not hold already");
	else if (s->state == LB_PHASE_DONE) /* what was sent is on the line above */
		snprintf(ret, size, "%s of the %s image reused from main", reused, image);
	else if (s->bundle_total) {
		char whole[32];
		format_bytes(s->bundle_total, whole, sizeof(whole));
		snprintf(ret, size, "%s %s of %s; %s of the %s image from main", sent ? "sent" : "sending", send,
			 whole, reused, image);
	} else
		snprintf(ret, size, "%s %s, %s of the %s image reused from main", sent ? "sent" : "sending",
			 send, reused, image);
	if (!ret_more || !more_size)
		return;
	if (delta_copying(s))
		snprintf(ret_more, more_size, "%s copied into place so far", copied);
	else if (s->state == LB_PHASE_WRITING || s->state == LB_PHASE_SYNCING) {
		if (s->written || s->copied)
			snprintf(ret_more, more_size, "written %s%s%s%s", written, s->copied ? " (" : "",
				 s->copied ? copied : "", s->copied ? " copied from main)" : "");
	} else if (s->state == LB_PHASE_READBACK || s->state == LB_PHASE_DONE)
		snprintf(ret_more, more_size, "written %s%sverified %s of %s", written, sep, verified, image);
}

/* ---- drawing ---- */

/* A column of the screen that sections are drawn into from the top; in a dry run nothing is
 * drawn and only rows are counted, so the layout can be planned before drawing. */
struct canvas {
	struct kiosk_frame *f;
	bool dry;
	unsigned left, width; /* the content column */
	unsigned row, bottom; /* next row; rows from `bottom` on are not drawn */
	bool compact;	      /* a small screen: hints left out, one line per reason */
};

static void put(struct canvas *c, unsigned col, const char *text, kiosk_style style)
{
	if (!c->dry && c->row < c->bottom && col < c->width) {
		char clipped[LINE_MAX_BYTES];
		snprintf(clipped, sizeof(clipped), "%.*s", (int)kiosk_text_prefix(text, c->width - col),
			 text);
		kiosk_frame_put(c->f, c->row, c->left + col, clipped, style);
	}
}

static void label(struct canvas *c, const char *text)
{
	put(c, 0, text, STYLE_LABEL);
}

/* Text from the text column on, wrapped at spaces, in at most `max_lines` lines (the last one
 * cut with "..." when the text goes on). Returns the rows used. */
static unsigned wrapped(struct canvas *c, const char *text, kiosk_style style, unsigned max_lines)
{
	unsigned width = c->width > LABEL_WIDTH ? c->width - LABEL_WIDTH : 1, lines = 0;
	const char *p = text;
	while (*p && lines < max_lines) {
		size_t n = kiosk_text_prefix(p, width);
		char line[LINE_MAX_BYTES];
		if (p[n] && lines + 1 == max_lines) {
			/* the last line allowed: cut, and say so */
			size_t keep = kiosk_text_prefix(p, width > 3 ? width - 3 : 0);
			snprintf(line, sizeof(line), "%.*s...", (int)keep, p);
			p += strlen(p);
		} else {
			if (p[n] && p[n] != ' ') {
				size_t space = n;
				while (space > 0 && p[space] != ' ')
					space--;
				if (space > 0)
					n = space;
			}
			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			p += n;
			while (*p == ' ')
				p++;
		}
		put(c, LABEL_WIDTH, line, style);
		c->row++;
		lines++;
	}
	return lines;
}

/* One labelled item: the label on its first line. */
static unsigned item(struct canvas *c, const char *lbl, const char *text, kiosk_style style,
		     unsigned max_lines)
{
	if (lbl)
		label(c, lbl);
	unsigned n = wrapped(c, text, style, max_lines);
	if (n == 0) /* an empty item still takes its line */
		c->row++;
	return n ? n : 1;
}

static void big_text(struct canvas *c, struct kiosk_frame *f, const char *text, unsigned scale,
		     kiosk_style style)
{
	if (!c->dry && c->row < c->bottom) {
		unsigned w = kiosk_font_width(text, scale);
		unsigned col = w < f->width ? (f->width - w) / 2 : 0;
		kiosk_font_draw(f, c->row, col, text, scale, style);
	}
	c->row += kiosk_font_height(scale);
}

static void section_why(struct canvas *c, const struct kiosk_model *m)
{
	char first[256], second[256], text[LB_ERROR_MESSAGE_MAX + 64];
	bool bad;
	kiosk_view_reason(m, first, sizeof(first), second, sizeof(second));
	label(c, "WHY");
	/* a damaged recovery comes before everything: whatever else happens, the card must go */
	if (image_damaged(m)) {
		kiosk_view_image_check(m, text, sizeof(text), &bad);
		item(c, NULL, text, STYLE_BAD, 2);
	}
	if (!*first)
		item(c, NULL, "No reason given by the boot loader", STYLE_DIM, 1);
	else {
		item(c, NULL, first, main_invalid(m) ? STYLE_BAD : STYLE_STRONG, c->compact ? 1 : 2);
		if (*second && !c->compact)
			item(c, NULL, second, STYLE_TEXT, 2);
	}
	kiosk_view_last_failure(m, text, sizeof(text));
	if (*text)
		item(c, NULL, text, STYLE_BUSY, c->compact ? 1 : 2);
}

static void url_of(const struct kiosk_address *a, char *ret, size_t size)
{
	snprintf(ret, size, a->family == AF_INET6 ? "http://[%s]/" : "http://%s/", a->text);
}

/* The addresses to open in a browser: the mDNS name, IPv4, IPv6. At most `max_lines` lines;
 * what does not fit is counted on the last one. */
static void section_open(struct canvas *c, const struct kiosk_model *m, unsigned max_lines)
{
	struct {
		char url[sizeof(m->mdns_name) + 16];
		char note[IF_NAMESIZE + 16];
	} e[KIOSK_ADDRESSES_MAX + 1] = {0};
	unsigned n = 0, url_width = 0;
	snprintf(e[n].url, sizeof(e[n].url), "http://%s/", m->mdns_name);
	snprintf(e[n].note, sizeof(e[n].note), "mDNS name");
	n++;
	for (unsigned i = 0; i < m->address_count; i++) {
		const struct kiosk_address *a = &m->addresses[i];
		url_of(a, e[n].url, sizeof(e[n].url));
		snprintf(e[n].note, sizeof(e[n].note), "%s%s", a->interface,
			 a->link_local ? ", link-local" : "");
		n++;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned w = kiosk_text_width(e[i].url);
		url_width = w > url_width ? w : url_width;
	}

	label(c, "OPEN");
	if (m->address_count == 0) {
		item(c, NULL, "No network address yet: check the tether cable", STYLE_BUSY, 1);
		max_lines = max_lines > 2 ? max_lines - 1 : 1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 == max_lines && n - i > 1) {
			char more[64];
			snprintf(more, sizeof(more), "... and %u more", n - i);
			put(c, LABEL_WIDTH, more, STYLE_DIM);
			c->row++;
			return;
		}
		put(c, LABEL_WIDTH, e[i].url, STYLE_STRONG);
		put(c, LABEL_WIDTH + url_width + 3, e[i].note, STYLE_DIM);
		c->row++;
	}
}

static void progress_bar(struct canvas *c, unsigned percent)
{
	unsigned width = c->width > LABEL_WIDTH + 8 ? c->width - LABEL_WIDTH - 7 : 1;
	unsigned filled = width * percent / 100;
	char text[16];
	if (!c->dry && c->row < c->bottom && c->left + LABEL_WIDTH < c->f->width) {
		kiosk_frame_fill(c->f, c->row, c->left + LABEL_WIDTH, filled, "\u2588", STYLE_BAR);
		kiosk_frame_fill(c->f, c->row, c->left + LABEL_WIDTH + filled, width - filled, "\u2591",
				 STYLE_DIM);
	}
	snprintf(text, sizeof(text), "%3u %%", percent);
	put(c, LABEL_WIDTH + width + 2, text, STYLE_STRONG);
	c->row++;
}

static void section_update(struct canvas *c, const struct kiosk_model *m)
{
	const struct lb_state *s = &m->state;
	char text[LB_STATE_TEXT_MAX + 128];
	kiosk_style style;

	label(c, "UPDATE");
	if (m->state_error < 0) {
		snprintf(text, sizeof(text), "The status file cannot be read: %s", strerror(-m->state_error));
		item(c, NULL, text, STYLE_BAD, 2);
		return;
	}
	phase_title(m, text, sizeof(text), &style);
	int step = phase_step(s->state);
	if (step) {
		char tail[32];
		snprintf(tail, sizeof(tail), "   step %d of 5", step);
		put(c, LABEL_WIDTH + kiosk_text_width(text), tail, STYLE_DIM);
	}
	item(c, NULL, text, style, 1);

	if (s->state == LB_STATE_IDLE) {
		if (!c->compact)
			item(c, NULL, "Upload a bundle from a browser at an address above", STYLE_TEXT, 2);
		return;
	}
	if (s->state == LB_PHASE_FAILED) {
		item(c, NULL, s->message[0] ? s->message : "no reason was recorded", STYLE_BAD, 3);
		return;
	}
	progress_bar(c, kiosk_view_percent(s));
	progress_details(m, SEPARATOR, text, sizeof(text));
	item(c, NULL, text, STYLE_TEXT, 2);
	if (s->delta) {
		char more[256];
		delta_summary(s, SEPARATOR, text, sizeof(text), more, sizeof(more));
		label(c, "DELTA");
		item(c, NULL, text, STYLE_TEXT, c->compact ? 1 : 2);
		if (*more && !c->compact)
			item(c, NULL, more, STYLE_DIM, 1);
	}
	if (kiosk_model_install_active(m) && s->updated > 0 && m->now - s->updated >= 10) {
		snprintf(text, sizeof(text), "No news from the install for %" PRId64 " s",
			 m->now - s->updated);
		item(c, NULL, text, STYLE_BUSY, 1);
	}
}

static void section_system(struct canvas *c, const struct kiosk_model *m)
{
	const struct lb_state *s = &m->state;
	char text[LB_STATE_TEXT_MAX + 128], when[64];

	label(c, "MAIN");
	if (!strcmp(s->main_state, "valid")) {
		format_time(s->main_installed_at, when, sizeof(when));
		snprintf(text, sizeof(text), "version %s", s->main_version[0] ? s->main_version : "unknown");
		if (*when)
			append(text, sizeof(text), ", installed %s", when);
		item(c, NULL, text, STYLE_GOOD, 1);
	} else if (main_invalid(m))
		item(c, NULL, "not bootable: an install began and did not finish", STYLE_BAD, 2);
	else
		item(c, NULL, "unknown: no install since the recovery started", STYLE_TEXT, 2);

	if (m->boot_configured) {
		label(c, "BOOT");
		if (m->boot_error[0])
			snprintf(text, sizeof(text), "cannot read the boot state: %s", m->boot_error);
		else if (m->main_in_order && m->main_attempts_left > 0)
			snprintf(text, sizeof(text), "%s first, %u attempt%s left, then recovery",
				 m->boot_slot, m->main_attempts_left, m->main_attempts_left == 1 ? "" : "s");
		else if (m->main_in_order)
			snprintf(text, sizeof(text), "recovery: %s has no attempts left", m->boot_slot);
		else
			snprintf(text, sizeof(text), "recovery only: %s is not in the boot order",
				 m->boot_slot);
		if (m->oneshot_recovery && !m->boot_error[0])
			append(text, sizeof(text), " (the next boot goes to the recovery once)");
		item(c, NULL, text, m->boot_error[0] ? STYLE_BAD : STYLE_TEXT, 2);
	}

	label(c, "LAST");
	format_time(s->last_time, when, sizeof(when));
	if (!strcmp(s->last_result, "installed")) {
		snprintf(text, sizeof(text), "%s", s->last_message[0] ? s->last_message : "installed");
		if (*when)
			append(text, sizeof(text), " at %s", when);
		item(c, NULL, text, STYLE_GOOD, 1);
	} else if (!strcmp(s->last_result, "failed")) {
		snprintf(text, sizeof(text), "failed");
		if (*when)
			append(text, sizeof(text), " at %s", when);
		if (s->last_code[0])
			append(text, sizeof(text), " (%s)", s->last_code);
		/* the message is on the screen already while the state is "failed" */
		if (s->state != LB_PHASE_FAILED && s->last_message[0])
			append(text, sizeof(text), ": %s", s->last_message);
		item(c, NULL, text, STYLE_BAD, 2);
	} else
		item(c, NULL, "none since the recovery started", STYLE_DIM, 1);

	/* the self-check's one line; a damaged image is at the top of the screen instead */
	if (m->image_check.result != LB_SELF_CHECK_NOT_RUN && !image_damaged(m)) {
		bool bad;
		label(c, "RECOVERY");
		kiosk_view_image_check(m, text, sizeof(text), &bad);
		item(c, NULL, text,
		     bad ? STYLE_BAD : m->image_check.result == LB_SELF_CHECK_OK ? STYLE_GOOD : STYLE_DIM, 1);
	}
}

static void header(struct kiosk_frame *f, const struct kiosk_model *m, const char *right)
{
	char left[128];
	snprintf(left, sizeof(left), " %s  %s", title, m->version);
	kiosk_frame_fill(f, 0, 0, f->width, " ", STYLE_HEADER);
	kiosk_frame_put(f, 0, 0, left, STYLE_HEADER);
	unsigned w = kiosk_text_width(right) + 1, lw = kiosk_text_width(left) + 2;
	if (*right && w + lw <= f->width)
		kiosk_frame_put(f, 0, f->width - w, right, STYLE_HEADER);
}

/* The bottom line: keys at the right, what Enter does (or why it does nothing) at the left. */
static void footer(struct kiosk_frame *f, const struct kiosk_model *m)
{
	unsigned row = f->height - 1;
	char why[256], text[320];
	kiosk_frame_fill(f, row, 0, f->width, " ", STYLE_FOOTER);

	static const char keys[] = "L log   R redraw ";
	unsigned kw = kiosk_text_width(keys), kcol = f->width > kw ? f->width - kw : 0;
	kiosk_frame_put(f, row, kcol, keys, STYLE_FOOTER);
	kiosk_frame_paint(f, row, kcol, 1, STYLE_KEY);
	kiosk_frame_paint(f, row, kcol + 8, 1, STYLE_KEY);

	bool ok = kiosk_model_main_bootable(m, why, sizeof(why));
	if (ok)
		snprintf(text, sizeof(text), "start main (reboot)");
	else
		snprintf(text, sizeof(text), "main cannot start: %s", why);
	unsigned room = kcol > 11 ? kcol - 11 : 0;
	kiosk_frame_put(f, row, 1, "Enter", STYLE_KEY);
	char clipped[sizeof(text)];
	size_t n = kiosk_text_prefix(text, room);
	snprintf(clipped, sizeof(clipped), "%.*s", (int)n, text);
	if (n < strlen(text) && room > 3)
		snprintf(clipped, sizeof(clipped), "%.*s...", (int)kiosk_text_prefix(text, room - 3), text);
	kiosk_frame_put(f, row, 8, clipped,
			ok ? STYLE_FOOTER : (KIOSK_FG(KIOSK_RED) | KIOSK_BG(KIOSK_WHITE)));
}

static void notice(struct kiosk_frame *f, const struct kiosk_ui *ui, unsigned left)
{
	if (ui->notice[0] && f->height >= 3) {
		char clipped[KIOSK_NOTICE_MAX];
		snprintf(clipped, sizeof(clipped), "%.*s",
			 (int)kiosk_text_prefix(ui->notice, f->width - left), ui->notice);
		kiosk_frame_put(f, f->height - 2, left, clipped,
				ui->notice_is_error ? STYLE_BAD : STYLE_BUSY);
	}
}

/* The whole status screen. The plan: count the rows every section needs in a dry run, then
 * spend what is left on the screen on big letters and air, or take rows away from the
 * address list and the gaps when the screen is small. */
static void draw_status(const struct kiosk_model *m, const struct kiosk_ui *ui, struct kiosk_frame *f)
{
	unsigned width = f->width > CONTENT_MAX + 4 ? CONTENT_MAX : f->width - 4;
	struct canvas c = {.f = f, .left = (f->width - width) / 2, .width = width, .bottom = f->height - 2};
	unsigned body = f->height - 3; /* between the header and the notice line */

	/* rows each section needs; on a small screen, in the compact form */
	unsigned addr_lines = m->address_count + 1 + (m->address_count == 0), fixed = 0, gap = 1, gaps = 4;
	/* gaps (one above everything and one between sections) go first, then hints */
	for (int level = 0; level < 3; level++) {
		struct canvas dry = c;
		dry.dry = true;
		dry.compact = level == 2;
		dry.row = 0;
		section_why(&dry, m);
		section_update(&dry, m);
		section_system(&dry, m);
		fixed = dry.row;
		c.compact = dry.compact;
		gap = level == 0;
		if (fixed + addr_lines + gap * gaps <= body)
			break;
	}
	if (fixed + addr_lines > body)
		addr_lines = body > fixed + 2 ? body - fixed : 2;
	unsigned used = fixed + addr_lines + gap * gaps;
	unsigned spare = body > used ? body - used : 0;

	/* big letters: the state first, then the title, each with a blank line under it */
	char state_word[64];
	kiosk_style state_style;
	unsigned state_scale = 0, title_scale = 0;
	for (unsigned scale = 2; scale >= 1 && gap && !state_scale; scale--)
		for (int pct = 1; pct >= 0 && !state_scale; pct--) {
			big_state(m, pct, state_word, sizeof(state_word), &state_style);
			if (kiosk_font_width(state_word, scale) + 4 <= f->width &&
			    kiosk_font_height(scale) + 2 <= spare)
				state_scale = scale;
		}
	if (state_scale)
		spare -= kiosk_font_height(state_scale) + 1;
	if (state_scale && kiosk_font_width(title, 1) + 4 <= f->width && kiosk_font_height(1) + 2 <= spare) {
		title_scale = 1;
		spare -= kiosk_font_height(1) + 1;
	}
	/* air between the sections on a big screen, the rest above and below */
	unsigned extra = gap ? spare / (3 * gaps) : 0;
	extra = extra > 2 ? 2 : extra;
	spare -= extra * (gaps - 1);

	c.row = 1 + gap + spare / 2;
	if (title_scale) {
		big_text(&c, f, title, title_scale, KIOSK_FG(KIOSK_WHITE) | KIOSK_BOLD);
		c.row += 1 + extra;
	}
	if (state_scale) {
		big_text(&c, f, state_word, state_scale, state_style);
		c.row += 1 + extra;
	}
	section_why(&c, m);
	c.row += gap + extra;
	section_open(&c, m, addr_lines);
	c.row += gap + extra;
	section_update(&c, m);
	c.row += gap + extra;
	section_system(&c, m);

	header(f, m, m->hostname);
	notice(f, ui, c.left);
	footer(f, m);
}

static void draw_log(const struct kiosk_model *m, const struct kiosk_ui *ui, struct kiosk_frame *f)
{
	char right[600];
	snprintf(right, sizeof(right), "log %s ", ui->log_path ? ui->log_path : "");
	header(f, m, right);
	unsigned width = f->width - 2, rows = f->height - 3;

	if (!ui->log_text || !*ui->log_text) {
		char text[600];
		snprintf(text, sizeof(text), "The log is %s.", ui->log_error ? ui->log_error : "empty");
		kiosk_frame_put(f, 2, 1, text, STYLE_BUSY);
	} else {
		/* wrap every line at spaces (continuations indented), then show the last rows that fit */
		struct {
			const char *text;
			size_t len;
			bool continued;
		} ring[KIOSK_FRAME_MAX_HEIGHT];
		unsigned count = 0, first = 0;
		bool continued = false;
		for (const char *p = ui->log_text; *p;) {
			size_t eol = strcspn(p, "\n");
			size_t n = kiosk_text_prefix(p, continued ? width - 2 : width);
			if (n >= eol)
				n = eol;
			else {
				size_t space = n;
				while (space > 0 && p[space] != ' ')
					space--;
				if (space > 0)
					n = space;
			}
			unsigned slot = (first + count) % KIOSK_FRAME_MAX_HEIGHT;
			ring[slot].text = p;
			ring[slot].len = n;
			ring[slot].continued = continued;
			if (count == rows)
				first = (first + 1) % KIOSK_FRAME_MAX_HEIGHT;
			else
				count++;
			p += n;
			continued = n < eol;
			while (continued && *p == ' ')
				p++;
			if (!continued && *p == '\n')
				p++;
		}
		for (unsigned i = 0; i < count; i++) {
			char text[LINE_MAX_BYTES];
			unsigned k = (first + i) % KIOSK_FRAME_MAX_HEIGHT;
			snprintf(text, sizeof(text), "%.*s", (int)ring[k].len, ring[k].text);
			kiosk_frame_put(f, 1 + i, ring[k].continued ? 3 : 1, text,
					strstr(text, "failed") ? STYLE_BAD : STYLE_TEXT);
		}
	}
	unsigned row = f->height - 1;
	kiosk_frame_fill(f, row, 0, f->width, " ", STYLE_FOOTER);
	kiosk_frame_put(f, row, 1, "Any key", STYLE_KEY);
	kiosk_frame_put(f, row, 9, "back to the status", STYLE_FOOTER);
	notice(f, ui, 1);
}

void kiosk_view_draw(const struct kiosk_model *m, const struct kiosk_ui *ui, struct kiosk_frame *f)
{
	kiosk_frame_clear(f);
	if (f->width < 8 || f->height < 4)
		return;
	if (ui->screen == KIOSK_SCREEN_LOG)
		draw_log(m, ui, f);
	else
		draw_status(m, ui, f);
}

void kiosk_view_status_line(const struct kiosk_model *m, char *ret, size_t size)
{
	const struct lb_state *s = &m->state;
	char text[LB_STATE_TEXT_MAX + 128], first[256], second[256];
	kiosk_style style;

	snprintf(ret, size, "%s %s | ", title, m->version);
	if (image_damaged(m))
		append(ret, size, "RECOVERY IMAGE DAMAGED: reflash the card | ");
	if (m->state_error < 0)
		append(ret, size, "status unreadable: %s", strerror(-m->state_error));
	else {
		phase_title(m, text, sizeof(text), &style);
		append(ret, size, "%s", text);
		if (s->state == LB_PHASE_FAILED)
			append(ret, size, ": %s", s->message);
		else if (s->state != LB_STATE_IDLE && s->state != LB_PHASE_DONE) {
			progress_details(m, ", ", text, sizeof(text));
			append(ret, size, " %u%% (%s)", kiosk_view_percent(s), text);
		} else if (s->state == LB_PHASE_DONE && s->delta) {
			progress_details(m, ", ", text, sizeof(text));
			append(ret, size, " (%s)", text);
		}
		if (s->state != LB_PHASE_FAILED && s->state != LB_STATE_IDLE && s->delta) {
			char more[256];
			delta_summary(s, ", ", text, sizeof(text), more, sizeof(more));
			append(ret, size, " | delta: %s%s%s", text, *more ? "; " : "", more);
		}
	}
	append(ret, size, " | main: %s%s%s", s->main_state, s->main_version[0] ? " " : "", s->main_version);
	kiosk_view_reason(m, first, sizeof(first), second, sizeof(second));
	if (*first)
		append(ret, size, " | why: %s%s%s", first, *second ? "; " : "", second);
	kiosk_view_last_failure(m, text, sizeof(text));
	if (*text)
		append(ret, size, " | %s", text);
	append(ret, size, " | open http://%s/", m->mdns_name);
	for (unsigned i = 0; i < m->address_count; i++) {
		url_of(&m->addresses[i], text, sizeof(text));
		append(ret, size, " %s", text);
	}
	/* the line goes to a terminal of unknown abilities: printable ASCII only */
	for (char *p = ret; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = (unsigned char)*p >= 0x80 ? '?' : ' ';
}
