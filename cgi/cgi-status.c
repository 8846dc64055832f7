/* GET /api/status: the state file as JSON. An install whose process died (the lock is free but
 * the state says it is running) is reported as failed, so no one waits for it forever. */
#include "cgi-common.h"
#include "lib/state.h"
#include "lib/version.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_state s;

	cgi_request_from_env(&req);
	if (cgi_refuse_unless_get(&req) || !cgi_load_config(&cfg))
		return 0;
	lb_state_load(cfg.state_dir, &s);
	if (lb_state_active(&s) && !lb_state_locked(cfg.state_dir)) {
		s.state = LB_PHASE_FAILED;
		snprintf(s.message, sizeof(s.message),
			 "the install stopped unexpectedly (its process ended): upload the bundle again");
	}
	struct lb_boot boot;
	struct lb_boot_state boot_state;
	struct lb_error err = {0};
	bool boot_configured, boot_known = false;
	if (lb_config_boot(&cfg, &boot, &boot_configured, &err) == 0 && boot_configured)
		boot_known = lb_boot_load(&boot, &boot_state, &err) == 0;
	if (boot_known)
		lb_state_merge_boot(&s, &boot_state, cfg.boot_slot);
	cgi_begin(200);
	lb_state_json(&s, LB_VERSION, boot_known ? &boot_state : NULL, stdout);
	return 0;
}
