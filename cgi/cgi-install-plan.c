/* POST /api/install-plan: the first step of a delta install (lib/delta-plan.h, docs/delta.md).
 * The body is a bundle's header; the device checks it as an install would, reads main to find
 * the chunks it already holds, keeps the plan in the state directory for the delta upload that
 * follows (POST /api/install?delta=1) and answers with it: what is reused, what must be sent,
 * and the byte ranges of the bundle that make the delta body. Nothing is written to main. Under
 * the install lock: a plan made while an install writes would describe nothing. */
#include "cgi-common.h"
#include "lib/delta-plan.h"
#include "lib/install.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *program = "install-plan";

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	struct lb_error err = {0};
	int lock_fd = -1;

	cgi_request_from_env(&req);
	if (cgi_refuse_octet_post(&req, CGI_BUNDLE_HEADER_MAX, "the bundle's header (its first 20 + M + S bytes)",
				  "the bundle's header only: its first 20 + M + S bytes (M and S are the big-endian "
				  "numbers at bytes 12 and 16), at most 4 MiB") ||
	    !cgi_load_config(&cfg))
		return 0;
	if (!cgi_take_install_lock(&cfg, &lock_fd))
		return 0;

	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	lb_keyring_load(cfg.keyring, &keys, &key_err); /* no keys: the check names the problem */
	struct lb_target_spec specs[LB_IMAGES_MAX];
	struct lb_install_options opt = {.keyring = keys};
	lb_config_install_options(&cfg, specs, NULL, &opt);

	struct lb_input in = {.read = cgi_read_request_body};
	struct lb_bundle_header header = {0};
	struct lb_delta_plan plan = {0};
	lb_delta_plan_discard(cfg.state_dir);
	int r = lb_install_plan(&in, &opt, &header, &plan, &err);
	lb_keyring_free(keys);
	if (r == 0 && in.consumed != req.content_length)
		r = lb_error_set(&err, EINVAL, LB_E_USAGE,
				 "the body has %llu bytes after the bundle's %llu-byte header: send the header only",
				 (unsigned long long)(req.content_length - in.consumed),
				 (unsigned long long)header.header_size);
	if (r == 0 && lb_delta_plan_save(cfg.state_dir, &plan) < 0)
		r = lb_error_set(&err, EIO, LB_E_IO, "cannot store the plan in %s", cfg.state_dir);
	if (r < 0) {
		if (err.code == LB_E_TRUNCATED)
			err.code = LB_E_USAGE; /* a short header is the client's mistake, not a cut upload */
		lb_log(cfg.log_file, program, "no plan (%s): %s", lb_code_name(err.code), err.message);
		cgi_error_from(&err, "untouched");
		lb_delta_plan_free(&plan);
		lb_bundle_header_free(&header);
		return 0;
	}
	lb_log(cfg.log_file, program,
	       "plan for version %s: %u chunks in place, %u moved, %u to send (%llu of %llu bytes), %.1f s",
	       header.manifest.version, plan.in_place, plan.moved, plan.send, (unsigned long long)plan.send_bytes,
	       (unsigned long long)lb_bundle_size(&header), plan.seconds);
	cgi_begin(200);
	printf("{\"ok\":true,\"plan\":");
	lb_delta_plan_json(&plan, &header, stdout);
	printf("}\n");
	lb_delta_plan_free(&plan);
	lb_bundle_header_free(&header);
	close(lock_fd);
	return 0;
}
