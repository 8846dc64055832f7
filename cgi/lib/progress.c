#include "progress.h"

static const char *const phase_names[_LB_PHASE_MAX] = {
	[LB_PHASE_RECEIVING] = "receiving", [LB_PHASE_VERIFYING] = "verifying", [LB_PHASE_WRITING] = "writing",
	[LB_PHASE_SYNCING] = "syncing",     [LB_PHASE_READBACK] = "read-back",  [LB_PHASE_DONE] = "done",
	[LB_PHASE_FAILED] = "failed",
};

const char *lb_phase_name(enum lb_phase phase)
{
	return phase < _LB_PHASE_MAX ? phase_names[phase] : "unknown";
}
