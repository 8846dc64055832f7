/* Error reporting for the whole library: the stable error codes (an API: their names appear
 * in JSON and their numbers are exit codes; add new ones last, never renumber or remove), and
 * struct lb_error, which carries one code plus a message for a person.
 *
 * Library functions return 0 or a negative errno and, on failure, fill the caller's
 * struct lb_error. Only the program layer prints. */
#pragma once

#include <stdarg.h>

enum lb_code {
	LB_OK = 0,
	LB_E_INTERNAL = 1,          /* out of memory, thread failure, a bug */
	LB_E_USAGE = 2,             /* bad command line or configuration */
	LB_E_NOT_A_BUNDLE = 3,      /* magic missing */
	LB_E_FORMAT_VERSION = 4,    /* a bundle format this program does not know */
	LB_E_MANIFEST_INVALID = 5,  /* manifest breaks the grammar, a cap, or is inconsistent */
	LB_E_TRUNCATED = 6,         /* the stream ended before the bundle did */
	LB_E_UNSIGNED = 7,          /* no signature and unsigned bundles are not allowed */
	LB_E_UNKNOWN_KEY = 8,       /* signed by a key that is not in the keyring */
	LB_E_BAD_SIGNATURE = 9,     /* the signature does not match the manifest */
	LB_E_INCOMPATIBLE = 10,     /* the bundle is for another board */
	LB_E_RECOVERY_TOO_OLD = 11, /* the bundle needs a newer recovery */
	LB_E_NO_TARGET = 12,        /* an image role has no target configured */
	LB_E_IMAGE_TOO_LARGE = 13,  /* an image is larger than its target */
	LB_E_TARGET_INVALID = 14,   /* not a block device or regular file, or cannot be opened */
	LB_E_TARGET_BUSY = 15,      /* mounted or held open exclusively by someone else */
	LB_E_TARGET_IS_ROOT = 16,   /* the device the running system booted from */
	LB_E_TARGET_READONLY = 17,  /* the target refuses writes */
	LB_E_CHUNK_CORRUPT = 18,    /* a chunk fails to decompress or does not match its hash */
	LB_E_WRITE = 19,            /* the target failed a write (EIO, ENOSPC, ...) */
	LB_E_READBACK = 20,         /* what was read back differs from what was written */
	LB_E_READ = 21,             /* reading the input failed */
	LB_E_TRAILING_DATA = 22,    /* bytes follow the last chunk */
	LB_E_KEY = 23,              /* a key file cannot be read or is not Ed25519 */
	LB_E_IO = 24,               /* any other file-system error (host tool output, config file) */
	LB_E_BUSY = 25,             /* another install is running */
	LB_E_CANCELLED = 26,        /* the install was stopped from outside */
	LB_E_BOOT_STATE = 27,       /* the boot loader's environment cannot be read or written */
	LB_E_FILESYSTEM_INVALID = 28, /* an installed image's file system does not hold together */
	LB_E_RECOVERY_DAMAGED = 29, /* the recovery image differs from the one recorded at build time */
	LB_E_NO_PLAN = 30,          /* a delta upload without a plan for its bundle */
	LB_E_PLAN_STALE = 31,       /* a chunk the plan would reuse is no longer where it said */
	_LB_CODE_MAX,
};

#define LB_ERROR_MESSAGE_MAX 512

struct lb_error {
	enum lb_code code;
	char message[LB_ERROR_MESSAGE_MAX];
};

/* The stable name of a code, as used in JSON ("truncated", "bad-signature", ...). */
const char *lb_code_name(enum lb_code code);

/* Records the first error only: later errors caused by the first one do not overwrite it.
 * Returns -err_no (pass a positive errno, e.g. EINVAL) so callers can `return lb_error_set(...)`. */
int lb_error_set(struct lb_error *e, int err_no, enum lb_code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int lb_error_failed(const struct lb_error *e)
{
	return e->code != LB_OK;
}
