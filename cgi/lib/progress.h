/* What an install is doing, as one snapshot: the CLI's progress bar, the web page's status
 * and the HDMI kiosk all show this same structure, fed through one callback. */
#pragma once

#include "manifest.h"

#include <stdbool.h>
#include <stdint.h>

enum lb_phase {
	LB_PHASE_RECEIVING, /* reading the header */
	LB_PHASE_VERIFYING, /* signature, board and targets */
	LB_PHASE_WRITING,   /* chunks stream in, are verified and written */
	LB_PHASE_SYNCING,   /* flushing the target */
	LB_PHASE_READBACK,  /* reading what was written back and checking it */
	LB_PHASE_DONE,
	LB_PHASE_FAILED,
	_LB_PHASE_MAX,
};

/* Stable names, used in JSON: "receiving", "verifying", "writing", "syncing", "read-back",
 * "done", "failed". */
const char *lb_phase_name(enum lb_phase phase);

struct lb_progress {
	enum lb_phase phase;
	const struct lb_manifest *manifest; /* NULL until the header is authenticated */
	uint64_t bundle_size;               /* 0 until the header is known */
	uint64_t received;                  /* bundle position: bytes read so far, or resumed from */
	uint64_t resumed;                   /* bundle bytes an earlier, cut upload delivered */
	uint64_t image_total;               /* bytes of all images */
	uint64_t written;                   /* image bytes verified and written */
	uint64_t readback;                  /* image bytes read back and found correct */
	/* A delta install (delta-plan.h): `bundle_size` and `received` count the body, which carries
	 * only the frames the device lacked; these say what the device found itself. */
	bool delta;
	uint64_t reused; /* image bytes found on the target: in place, or copied */
	uint64_t copied; /* of those, the bytes copied into place so far */
	uint64_t copy_total;   /* the bytes to copy: copying runs while copied < copy_total */
	uint64_t bundle_total; /* the whole bundle, of which the body carries bundle_size */
};

typedef void (*lb_progress_fn)(const struct lb_progress *p, void *userdata);
