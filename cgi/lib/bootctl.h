/* Boot control: what boots next, with one meaning on every boot loader.
 *
 * A boot order lists the main slots to try ("main", or "A B" for an A/B layout); the recovery is
 * not in it and always comes last. Each main slot has attempts left: the boot loader takes the
 * first slot in the order with attempts left, decrements them before booting it, and falls back
 * to the recovery when none has any. A healthy main resets its slot's attempts (mark-good). A
 * one-shot flag sends the next boot to the recovery once, without touching the rest.
 *
 * The state lives in the boot loader's environment: LB_ORDER="main recovery", LB_main_LEFT="3",
 * LB_ONESHOT="recovery" or "", and LB_main_VERSION, the version of the bundle installed into the
 * slot (the one record of what main holds that both main and the recovery can read). Every change writes all of it in one atomic write of the backend.
 * Backends differ only in where that environment is kept (docs/boot.md):
 *   grub   the GRUB environment block, read by the project's grub.cfg;
 *   uboot  a redundant U-Boot environment file pair on the FAT boot partition, read by boot.scr;
 *   rpi    the same file pair, read by the recovery, which the Raspberry Pi firmware boots by
 *          default and which hands over to main with a one-shot trial boot. */
#pragma once

#include "bootenv.h"
#include "error.h"

#include <stdbool.h>

#define LB_BOOT_SLOTS_MAX 2
#define LB_BOOT_SLOT_NAME_MAX 16
#define LB_BOOT_ATTEMPTS_DEFAULT 3
#define LB_BOOT_ATTEMPTS_MAX 9 /* the GRUB script's lookup table ends there */

struct lb_boot_backend;

struct lb_boot {
	const struct lb_boot_backend *backend;
	char env_path[512];
	unsigned attempts; /* what mark-good and activation restore */
};

struct lb_boot_state {
	unsigned order_count;
	char order[LB_BOOT_SLOTS_MAX][LB_BOOT_SLOT_NAME_MAX];
	unsigned left[LB_BOOT_SLOTS_MAX]; /* attempts left, by position in `order` */
	char version[LB_BOOT_SLOTS_MAX][LB_BOOTENV_VALUE_MAX]; /* what was installed there, by position */
	bool oneshot_recovery;
	struct lb_bootenv env; /* everything else in the environment, kept as it was */
};

/* Picks the backend by name ("grub", "uboot", "rpi"); env_path is its environment file. */
int lb_boot_open(struct lb_boot *b, const char *backend, const char *env_path, unsigned attempts,
		 struct lb_error *err);
const char *lb_boot_backend_name(const struct lb_boot *b);

int lb_boot_load(const struct lb_boot *b, struct lb_boot_state *ret, struct lb_error *err);
int lb_boot_save(const struct lb_boot *b, const struct lb_boot_state *s, struct lb_error *err);

/* Attempts left for a slot; 0 when it is not in the order. */
unsigned lb_boot_attempts_left(const struct lb_boot_state *s, const char *slot);

/* The operations, each one load-modify-save:
 *   invalidate: the slot leaves the order (before its partition is written);
 *   activate:   the slot goes first in the order with fresh attempts and records `version` (after
 *               it was verified);
 *   mark_good:  a slot that is in the order gets its attempts back (a healthy boot);
 *   reboot_to_recovery: the next boot goes to the recovery, once. */
int lb_boot_invalidate(const struct lb_boot *b, const char *slot, struct lb_error *err);
int lb_boot_activate(const struct lb_boot *b, const char *slot, const char *version, struct lb_error *err);
int lb_boot_mark_good(const struct lb_boot *b, const char *slot, struct lb_error *err);
int lb_boot_set_oneshot_recovery(const struct lb_boot *b, bool on, struct lb_error *err);

/* The Raspberry Pi hand-over, run early by the recovery on every boot it did not get by request:
 * true when main should be tried now (its attempt is then already counted and saved), false to
 * stay in the recovery. */
int lb_boot_rpi_handover(const struct lb_boot *b, const char *slot, bool *ret_try_main, struct lb_error *err);
