/* The device configuration, /etc/lifeboat/lifeboat.conf: "key = value" lines, '#' comments.
 * Keys: compatible, keyring, allow-unsigned, readback, target.ROLE. Command-line flags win over
 * the file; the file wins over built-in defaults. */
#pragma once

#include "error.h"
#include "install.h"

#include <stdbool.h>

#define LB_CONFIG_DEFAULT_PATH "/etc/lifeboat/lifeboat.conf"
#define LB_CONFIG_VALUE_MAX 512

struct lb_config {
	char compatible[LB_CONFIG_VALUE_MAX];
	char keyring[LB_CONFIG_VALUE_MAX];
	bool allow_unsigned;
	bool readback;
	unsigned target_count;
	char target_role[LB_IMAGES_MAX][LB_TOKEN_MAX + 1];
	char target_path[LB_IMAGES_MAX][LB_CONFIG_VALUE_MAX];
};

/* Built-in defaults: keyring /etc/lifeboat/keyring, read-back on, unsigned bundles refused. */
void lb_config_defaults(struct lb_config *c);

/* Reads `path` over the current values. A missing file is not an error when `optional`. */
int lb_config_load(struct lb_config *c, const char *path, bool optional, struct lb_error *err);

/* Sets (or replaces) the target of a role; `spec` is "ROLE=PATH". */
int lb_config_set_target(struct lb_config *c, const char *spec, struct lb_error *err);
