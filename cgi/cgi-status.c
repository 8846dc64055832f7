/* GET /api/status: the state file as JSON. An install whose process died (the lock is free but
 * the state says it is running) is reported as failed, so no one waits for it forever. The
 * recovery's own part: why it was booted, the last failed boot kept in its log directory, and
 * the result of its image self-check. */
#include "cgi-common.h"
#include "lib/cmdline.h"
#include "lib/macro.h"
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

	char reason[LB_BOOT_REASON_WORD_MAX] = "", boot_id[40], log_dir[LB_CONFIG_VALUE_MAX];
	_cleanup_free_ char *cmdline = lb_cmdline_read(NULL);
	if (cmdline)
		lb_boot_reason_parse(cmdline, reason, sizeof(reason));
	struct lb_boot_failure last_failure;
	lb_boot_id(boot_id, sizeof(boot_id));
	lb_log_dir(cfg.log_file, log_dir, sizeof(log_dir));
	lb_boot_failure_load(log_dir, boot_id, &last_failure);
	struct lb_self_check image;
	lb_self_check_load(cfg.state_dir, &image);
	struct lb_recovery_report recovery = {
		.version = LB_VERSION,
		.boot_reason = reason,
		.last_failure = &last_failure,
		.image = &image,
	};

	cgi_begin(200);
	lb_state_json(&s, &recovery, boot_known ? &boot_state : NULL, stdout);
	return 0;
}
