/* The recovery's state: what an install is doing now, how the last one ended, and what main
 * holds. One small "key=value" file in the state directory, replaced atomically on every
 * change, is the single source: the install CGI writes it, /api/status serves it as JSON, the
 * HDMI kiosk reads it. This module also owns the install lock, which makes installs exclusive. */
#pragma once

#include "boot-reason.h"
#include "bootctl.h"
#include "error.h"
#include "manifest.h"
#include "progress.h"
#include "self-check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LB_STATE_FILE "status"
#define LB_STATE_LOCK_FILE "install.lock"
#define LB_STATE_TEXT_MAX 512

/* "idle" or a phase name; see lb_state_name(). */
enum lb_state_kind {
	LB_STATE_IDLE = _LB_PHASE_MAX, /* the phases of progress.h come first */
};

struct lb_state {
	int state; /* an enum lb_phase or LB_STATE_IDLE */
	char message[LB_STATE_TEXT_MAX];
	/* the running (or last) install */
	char bundle_version[LB_TOKEN_MAX + 1];
	char bundle_compatible[LB_TOKEN_MAX + 1];
	uint64_t received, bundle_size, written, readback, image_total;
	uint64_t resumed; /* bundle bytes a cut upload delivered before this one resumed it */
	bool delta;	  /* a delta upload: bundle_size and received count its body */
	uint64_t reused;  /* image bytes the device held already (delta) */
	uint64_t copied;  /* of those, copied into place so far */
	uint64_t copy_total;   /* what is to be copied (delta) */
	uint64_t bundle_total; /* the whole bundle (delta; bundle_size is the body) */
	double mbps;
	int64_t eta_seconds; /* -1: unknown */
	int64_t started;     /* epoch seconds */
	/* how the last install ended */
	char last_result[16]; /* "installed", "failed" or "" */
	char last_code[32];
	char last_message[LB_STATE_TEXT_MAX];
	int64_t last_time;
	/* what main holds */
	char main_state[16]; /* "valid", "invalid" or "unknown" */
	char main_version[LB_TOKEN_MAX + 1];
	char main_compatible[LB_TOKEN_MAX + 1];
	int64_t main_installed_at;
	int64_t updated;
};

const char *lb_state_name(int state);

/* Reads the state file; a missing file gives the idle defaults with main "unknown". */
int lb_state_load(const char *dir, struct lb_state *ret);

/* Starts a new install in the state: phase "receiving" with `message`, every count, the delta
 * numbers, the rate and the bundle of the previous install cleared, the start time now. How the
 * last install ended and what main holds stay until this one changes them. */
void lb_state_begin(struct lb_state *st, const char *message);

/* Copies an install's progress (phase, byte counts, the bundle's version) into the state; the
 * rate, the ETA and the message are the caller's. */
void lb_state_follow(struct lb_state *st, const struct lb_progress *p);

/* Replaces the state file atomically (the `updated` time is set here). */
int lb_state_save(const char *dir, struct lb_state *s);

/* What /api/status says about the recovery itself, besides the install state. */
struct lb_recovery_report {
	const char *version;
	const char *boot_reason;			   /* this boot's lifeboat.reason= word; NULL: none */
	const struct lb_boot_failure *last_failure;	   /* NULL: not known here */
	const struct lb_self_check *image;		   /* NULL: not known here */
};

/* Writes the state as the JSON object of GET /api/status; `boot` (NULL: no boot control) adds
 * the boot order and attempts left. The recovery's part is "recovery_version" and the object
 * "recovery": {"version", "boot_reason", "last_failure", "image"}. */
void lb_state_json(const struct lb_state *s, const struct lb_recovery_report *recovery,
		   const struct lb_boot_state *boot, FILE *f);

/* Fills what main holds from the boot state when the status file does not know it (it lives on
 * a tmpfs and starts empty at every boot of the recovery): a slot in the boot order holds the
 * version recorded there; one that is not, after an install began, holds nothing bootable. */
void lb_state_merge_boot(struct lb_state *s, const struct lb_boot_state *boot, const char *slot);

/* True while an install is running (its state is a phase other than done/failed). */
bool lb_state_active(const struct lb_state *s);

/* Takes the install lock without waiting: -EBUSY when another install holds it. The lock is
 * released when the returned descriptor is closed, also when the process dies. */
int lb_state_lock(const char *dir, int *ret_fd);

/* True when some process holds the install lock. */
bool lb_state_locked(const char *dir);
