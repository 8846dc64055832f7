/* Why the boot loader started the recovery: lifeboat.reason= on the kernel command line
 * (docs/boot.md), and the last boot that was a failure (any reason but "requested"), kept
 * across boots in a small file in the recovery's log directory, which is on the data partition
 * when there is one. A later boot by request does not replace it, so the recovery can still
 * say "last failure: main used up its boot attempts, at TIME" after the technician rebooted
 * into it on purpose. `lifeboat boot-reason --record` (lifeboat-boot-reason.service) keeps it
 * at every boot; /api/status, the web page and the kiosk show it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LB_BOOT_FAILURE_FILE "last-failure"
#define LB_BOOT_REASON_WORD_MAX 32
#define LB_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

enum lb_boot_reason {
	LB_BOOT_REASON_NONE,		   /* not given */
	LB_BOOT_REASON_REQUESTED,	   /* requested: a reboot into the recovery was asked for */
	LB_BOOT_REASON_ATTEMPTS_EXHAUSTED, /* attempts-exhausted: main failed to boot too often */
	LB_BOOT_REASON_NO_MAIN,		   /* no-main: no main slot in the boot order */
	LB_BOOT_REASON_STATE_UNWRITABLE,   /* state-unwritable: the boot loader could not count an attempt */
	LB_BOOT_REASON_OTHER,		   /* a word this recovery does not know */
};

/* lifeboat.reason= of a kernel command line; the word (printable ASCII, cut to fit) goes to
 * `ret_word`, "" when there is none. */
enum lb_boot_reason lb_boot_reason_parse(const char *cmdline, char *ret_word, size_t size);

/* What a reason word means, in a few words for a person: "main used up its boot attempts". */
const char *lb_boot_reason_text(const char *word);

/* Whether a boot for this reason was a failure: anything given but "requested". */
bool lb_boot_reason_is_failure(enum lb_boot_reason reason);

struct lb_boot_failure {
	bool known;			     /* a failure was kept */
	char reason[LB_BOOT_REASON_WORD_MAX]; /* the lifeboat.reason= word */
	int64_t time;			     /* when the recovery recorded it, epoch seconds */
	char boot_id[40];		     /* the kernel's boot_id of that boot */
	bool this_boot;			     /* that boot is the running one */
};

/* Keeps this boot's reason in `dir`/LB_BOOT_FAILURE_FILE when it is a failure; a record of the
 * same boot (`boot_id`) is kept as it is, so running twice does not move its time.
 * `*ret_recorded` says whether this boot's failure is now the one kept. */
int lb_boot_failure_record(const char *dir, const char *cmdline, const char *boot_id, int64_t now,
			   bool *ret_recorded);

/* Reads the failure kept in `dir` (none: `known` false, and 0); `boot_id` is the running
 * boot's, to tell whether the failure is this boot's. */
int lb_boot_failure_load(const char *dir, const char *boot_id, struct lb_boot_failure *ret);

/* {"reason","text","time","this_boot"}, or null when none is known. */
void lb_boot_failure_json(const struct lb_boot_failure *f, FILE *out);

/* This boot's id (LB_BOOT_ID_PATH), "" when unreadable. */
void lb_boot_id(char *ret, size_t size);

/* The directory of the recovery's log (the configuration's log-file): where the failure is kept. */
void lb_log_dir(const char *log_file, char *ret, size_t size);
