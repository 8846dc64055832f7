#include "error.h"

#include <stdio.h>
#include <errno.h>
#include <string.h>

static const char *const code_names[_LB_CODE_MAX] = {
	[LB_OK] = "ok",
	[LB_E_INTERNAL] = "internal",
	[LB_E_USAGE] = "usage",
	[LB_E_NOT_A_BUNDLE] = "not-a-bundle",
	[LB_E_FORMAT_VERSION] = "format-version",
	[LB_E_MANIFEST_INVALID] = "manifest-invalid",
	[LB_E_TRUNCATED] = "truncated",
	[LB_E_UNSIGNED] = "unsigned",
	[LB_E_UNKNOWN_KEY] = "unknown-key",
	[LB_E_BAD_SIGNATURE] = "bad-signature",
	[LB_E_INCOMPATIBLE] = "incompatible",
	[LB_E_RECOVERY_TOO_OLD] = "recovery-too-old",
	[LB_E_NO_TARGET] = "no-target",
	[LB_E_IMAGE_TOO_LARGE] = "image-too-large",
	[LB_E_TARGET_INVALID] = "target-invalid",
	[LB_E_TARGET_BUSY] = "target-busy",
	[LB_E_TARGET_IS_ROOT] = "target-is-root",
	[LB_E_TARGET_READONLY] = "target-readonly",
	[LB_E_CHUNK_CORRUPT] = "chunk-corrupt",
	[LB_E_WRITE] = "write-failed",
	[LB_E_READBACK] = "readback-mismatch",
	[LB_E_READ] = "read-failed",
	[LB_E_TRAILING_DATA] = "trailing-data",
	[LB_E_KEY] = "key",
	[LB_E_IO] = "io",
	[LB_E_BUSY] = "busy",
	[LB_E_CANCELLED] = "cancelled",
	[LB_E_BOOT_STATE] = "boot-state",
	[LB_E_FILESYSTEM_INVALID] = "filesystem-invalid",
	[LB_E_RECOVERY_DAMAGED] = "recovery-damaged",
	[LB_E_NO_PLAN] = "no-plan",
	[LB_E_PLAN_STALE] = "plan-stale",
};

const char *lb_code_name(enum lb_code code)
{
	if (code < 0 || code >= _LB_CODE_MAX || !code_names[code])
		return "unknown";
	return code_names[code];
}

int lb_error_set(struct lb_error *e, int err_no, enum lb_code code, const char *fmt, ...)
{
	if (e && e->code == LB_OK) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
		va_end(ap);
	}
	return -(err_no > 0 ? err_no : EINVAL);
}
