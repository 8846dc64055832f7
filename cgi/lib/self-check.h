/* The recovery's check of its own image, once per boot (`lifeboat self-check`, run early by
 * lifeboat-self-check.service): the squashfs it runs from, found as the block device mounted
 * at / (else root= of the kernel command line), is hashed over exactly its own bytes_used
 * bytes and compared with the SHA-256 recorded when it was built, which the boot loader passes
 * as lifeboat.sha256=HEX (rootfs/build writes recovery.squashfs.sha256; the card's builder puts
 * it on the recovery's command line). mksquashfs pads its file to a multiple of 4 KiB and
 * sha256sum hashes the padding too, so the hash of the padded length is accepted as well.
 *
 * The result is one small key=value file in the state directory, next to the status file:
 * /api/status and the kiosk show it; a damaged recovery means "reflash the card". */
#pragma once

#include "hash.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LB_SELF_CHECK_FILE "self-check"
#define LB_MOUNTINFO_PATH "/proc/self/mountinfo"

enum lb_self_check_result {
	LB_SELF_CHECK_NOT_RUN,	  /* no result this boot */
	LB_SELF_CHECK_OK,	  /* the image is the one built */
	LB_SELF_CHECK_MISMATCH,	  /* it is not: damaged, reflash the card */
	LB_SELF_CHECK_UNKNOWN,	  /* readable and sane, but no recorded hash to compare with */
	LB_SELF_CHECK_UNREADABLE, /* no device, not a squashfs, a damaged super block, a read error */
	_LB_SELF_CHECK_MAX,
};

struct lb_self_check {
	enum lb_self_check_result result;
	char device[256];
	char sha256[LB_SHA256_HEX_SIZE + 1];   /* of `hashed_bytes` bytes of the device; "" if unreadable */
	char expected[LB_SHA256_HEX_SIZE + 1]; /* lifeboat.sha256=; "" when none */
	uint64_t bytes_used;		       /* the squashfs's own length */
	uint64_t hashed_bytes;		       /* bytes_used, or the padded length when that matched */
	double seconds;
	int64_t time; /* when it ran, epoch seconds */
	char message[512];
};

struct lb_self_check_options {
	const char *device;	    /* NULL: the device mounted at /, else root= */
	const char *expected;	    /* NULL: lifeboat.sha256= of the command line */
	const char *cmdline_path;   /* NULL: /proc/cmdline */
	const char *mountinfo_path; /* NULL: LB_MOUNTINFO_PATH */
};

/* Runs the check. It never fails as such: every outcome is a result, with a message. */
void lb_self_check_run(const struct lb_self_check_options *opt, struct lb_self_check *ret);

/* "not-run", "ok", "mismatch", "unknown", "unreadable": stable, used in JSON. */
const char *lb_self_check_result_name(enum lb_self_check_result result);

/* The result file in `state_dir`, replaced atomically. Loading a missing file gives
 * LB_SELF_CHECK_NOT_RUN and returns 0. */
int lb_self_check_save(const char *state_dir, const struct lb_self_check *c);
int lb_self_check_load(const char *state_dir, struct lb_self_check *ret);

/* {"check","device","sha256","expected","bytes_used","hashed_bytes","seconds","time","message"} */
void lb_self_check_json(const struct lb_self_check *c, FILE *f);

/* The file system mounted at / in a mountinfo text (the last mount there wins): its device
 * number and mount source. False when / is not listed. */
bool lb_mountinfo_root(const char *mountinfo, unsigned *ret_major, unsigned *ret_minor, char *ret_source,
		       size_t size);

/* root= of a kernel command line as a device path: /dev/NAME as it is, PARTLABEL= and PARTUUID=
 * through udev's /dev/disk/by-partlabel/ and by-partuuid/. False when there is no root=. */
bool lb_cmdline_root_device(const char *cmdline, char *ret, size_t size);
