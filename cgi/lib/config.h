/* The device configuration, /etc/lifeboat/lifeboat.conf: "key = value" lines, '#' comments.
 * Keys: compatible, keyring, allow-unsigned, readback, target.ROLE, state-dir, log-file,
 * reboot-command, boot-backend, boot-env, boot-attempts, boot-slot, pull-dir, pull-ca. Command-line flags win over the file; the file wins over built-in defaults.
 * The CGI programs find the file through $LIFEBOAT_CONFIG. */
#pragma once

#include "error.h"
#include "bootctl.h"
#include "install.h"

#include <stdbool.h>

#define LB_CONFIG_DEFAULT_PATH "/etc/lifeboat/lifeboat.conf"
#define LB_CONFIG_ENV "LIFEBOAT_CONFIG"
#define LB_CONFIG_VALUE_MAX 512

struct lb_config {
	char compatible[LB_CONFIG_VALUE_MAX];
	char keyring[LB_CONFIG_VALUE_MAX];
	char state_dir[LB_CONFIG_VALUE_MAX];      /* runtime state: the status file, the install lock */
	char log_file[LB_CONFIG_VALUE_MAX];       /* the recovery's log */
	char reboot_command[LB_CONFIG_VALUE_MAX]; /* run as "COMMAND main|recovery" */
	char boot_backend[16];                    /* "grub", "uboot", "rpi", or "" for none */
	char boot_env[LB_CONFIG_VALUE_MAX];       /* the boot loader's environment file */
	unsigned boot_attempts;                   /* attempts a freshly installed or good main gets */
	char boot_slot[16];                       /* the main slot the rootfs target is, "main" */
	/* Pulls from a URL (pull.h): where main leaves an install request and the recovery its
	 * result, a directory on the data partition both see ("": the log directory, which is
	 * there in the recovery); and the CA file that a pull's https server is checked against
	 * ("": the system's store). */
	char pull_dir[LB_CONFIG_VALUE_MAX];
	char pull_ca[LB_CONFIG_VALUE_MAX];
	bool allow_unsigned;
	bool readback;
	unsigned target_count;
	char target_role[LB_IMAGES_MAX][LB_TOKEN_MAX + 1];
	char target_path[LB_IMAGES_MAX][LB_CONFIG_VALUE_MAX];
};

/* Built-in defaults: keyring /etc/lifeboat/keyring, state in /run/lifeboat, log in
 * /run/lifeboat/lifeboat.log, read-back on, unsigned bundles refused. */
void lb_config_defaults(struct lb_config *c);

/* Reads `path` over the current values. A missing file is not an error when `optional`. */
int lb_config_load(struct lb_config *c, const char *path, bool optional, struct lb_error *err);

/* Loads the file named by $LIFEBOAT_CONFIG, or the default path: what the CGI programs use. */
int lb_config_load_for_service(struct lb_config *c, struct lb_error *err);

/* Fills what the configuration decides in an install's options: board, unsigned policy,
 * read-back, the targets (written into `specs`, pointing into `c`), boot control (`boot`, NULL:
 * none) and its slot. The caller adds the keyring, progress reporting and the rest. */
void lb_config_install_options(const struct lb_config *c, struct lb_target_spec specs[LB_IMAGES_MAX],
			       const struct lb_boot *boot, struct lb_install_options *ret);

/* Opens the configured boot control. `*ret_configured` is false (and `ret` untouched) when no
 * boot-backend is set: then nothing changes boot state. */
int lb_config_boot(const struct lb_config *c, struct lb_boot *ret, bool *ret_configured, struct lb_error *err);

/* The directory of pull requests and results: pull-dir, or the log file's directory. */
void lb_config_pull_dir(const struct lb_config *c, char *ret, size_t size);

/* Sets (or replaces) the target of a role; `spec` is "ROLE=PATH". */
int lb_config_set_target(struct lb_config *c, const char *spec, struct lb_error *err);
