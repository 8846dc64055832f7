/* The kiosk's screen, drawn from a model (kiosk-model.h): a pure function of the model, the
 * frame's size and what the person at the keyboard asked for. The layout adapts to the size:
 * big letters for the state and the title when there is room, fewer address lines when there
 * is not. Below KIOSK_VIEW_MIN_WIDTH x KIOSK_VIEW_MIN_HEIGHT the kiosk prints plain status
 * lines instead (kiosk_view_status_line()). */
#pragma once

#include "kiosk-frame.h"
#include "kiosk-model.h"

#include <stdbool.h>
#include <stddef.h>

#define KIOSK_VIEW_MIN_WIDTH 40
#define KIOSK_VIEW_MIN_HEIGHT 10
#define KIOSK_NOTICE_MAX 512

enum kiosk_screen {
	KIOSK_SCREEN_STATUS,
	KIOSK_SCREEN_LOG,
};

struct kiosk_ui {
	enum kiosk_screen screen;
	const char *log_path; /* the log screen: the file's name, */
	const char *log_text; /* its last lines (NULL: it could not be read, see log_error) */
	const char *log_error;
	char notice[KIOSK_NOTICE_MAX]; /* a message after a key press, e.g. why Enter did nothing */
	bool notice_is_error;
};

/* True when a screen of this size gets the full-screen view. */
bool kiosk_view_fits(unsigned width, unsigned height);

/* Draws the whole screen into `f` (cleared first). */
void kiosk_view_draw(const struct kiosk_model *m, const struct kiosk_ui *ui, struct kiosk_frame *f);

/* Why the device is in the recovery, worded for a technician; an empty string when nothing
 * is known. `second` (may be NULL) gets a further reason when there are two, e.g. a failed
 * install after a requested reboot. */
void kiosk_view_reason(const struct kiosk_model *m, char *ret, size_t size, char *ret_second,
		       size_t second_size);

/* The recovery image's self-check in one line ("" when it has not run); `ret_bad` when it is
 * damaged or could not be read. */
void kiosk_view_image_check(const struct kiosk_model *m, char *ret, size_t size, bool *ret_bad);

/* "Last failure: main used up its boot attempts, 2026-11-27 10:00 UTC"
 * for a failed boot kept from before this one; "" when there is none or it is this boot's. */
void kiosk_view_last_failure(const struct kiosk_model *m, char *ret, size_t size);

/* The state in one line, for terminals without cursor control: title, version, install state
 * and progress, main, the reason, the addresses. */
void kiosk_view_status_line(const struct kiosk_model *m, char *ret, size_t size);

/* The install's progress in percent as /api/status reports it: the upload (a delta install's
 * body) while receiving and writing, the read-back while checking, 100 when done. */
unsigned kiosk_view_percent(const struct lb_state *s);
