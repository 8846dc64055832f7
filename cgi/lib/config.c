#include "config.h"
#include "boot-reason.h"
#include "io.h"
#include "macro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void lb_config_defaults(struct lb_config *c)
{
	*c = (struct lb_config){.readback = true, .boot_attempts = 3};
	snprintf(c->boot_slot, sizeof(c->boot_slot), "main");
	snprintf(c->keyring, sizeof(c->keyring), "/etc/lifeboat/keyring");
	snprintf(c->state_dir, sizeof(c->state_dir), "/run/lifeboat");
	snprintf(c->log_file, sizeof(c->log_file), "/run/lifeboat/lifeboat.log");
	snprintf(c->reboot_command, sizeof(c->reboot_command), "/usr/sbin/lifeboat-reboot");
}

int lb_config_load_for_service(struct lb_config *c, struct lb_error *err)
{
	const char *path = getenv(LB_CONFIG_ENV);
	lb_config_defaults(c);
	return lb_config_load(c, path && *path ? path : LB_CONFIG_DEFAULT_PATH, false, err);
}

static int add_target(struct lb_config *c, const char *role, size_t role_len, const char *path,
		      struct lb_error *err)
{
	if (role_len == 0 || role_len > LB_TOKEN_MAX || !*path || strlen(path) >= LB_CONFIG_VALUE_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "a target is ROLE=PATH, e.g. rootfs=/dev/mmcblk0p3");
	char r[LB_TOKEN_MAX + 1];
	memcpy(r, role, role_len);
	r[role_len] = '\0';
	if (!lb_token_valid(r))
		return lb_error_set(err, EINVAL, LB_E_USAGE, "target role '%s' is not a valid name", r);
	unsigned i = 0;
	while (i < c->target_count && strcmp(c->target_role[i], r) != 0)
		i++;
	if (i == LB_IMAGES_MAX)
		return lb_error_set(err, E2BIG, LB_E_USAGE, "at most %u targets", LB_IMAGES_MAX);
	if (i == c->target_count)
		c->target_count++;
	snprintf(c->target_role[i], sizeof(c->target_role[i]), "%s", r);
	snprintf(c->target_path[i], sizeof(c->target_path[i]), "%s", path);
	return 0;
}

int lb_config_set_target(struct lb_config *c, const char *spec, struct lb_error *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "target '%s' is not ROLE=PATH", spec);
	return add_target(c, spec, (size_t)(eq - spec), eq + 1, err);
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static char *strip(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int lb_config_load(struct lb_config *c, const char *path, bool optional, struct lb_error *err)
{
	_cleanup_free_ char *text = NULL;
	int r = lb_read_file(path, 64 << 10, &text, NULL);
	if (r == -ENOENT && optional)
		return 0;
	if (r < 0)
		return lb_error_set(err, -r, LB_E_USAGE, "cannot read configuration %s: %s", path, strerror(-r));

	unsigned number = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		number++;
		line = strip(line);
		if (!*line || *line == '#')
			continue;
		char *eq = strchr(line, '=');
		if (!eq)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: expected 'key = value'", path, number);
		*eq = '\0';
		char *key = strip(line), *value = strip(eq + 1);
		if (strlen(value) >= LB_CONFIG_VALUE_MAX)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: value too long", path, number);
		struct {
			const char *key;
			char *dst;
			size_t size;
		} texts[] = {
			{"compatible", c->compatible, sizeof(c->compatible)},
			{"keyring", c->keyring, sizeof(c->keyring)},
			{"state-dir", c->state_dir, sizeof(c->state_dir)},
			{"log-file", c->log_file, sizeof(c->log_file)},
			{"reboot-command", c->reboot_command, sizeof(c->reboot_command)},
			{"boot-backend", c->boot_backend, sizeof(c->boot_backend)},
			{"boot-env", c->boot_env, sizeof(c->boot_env)},
			{"boot-slot", c->boot_slot, sizeof(c->boot_slot)},
			{"pull-dir", c->pull_dir, sizeof(c->pull_dir)},
			{"pull-ca", c->pull_ca, sizeof(c->pull_ca)},
		};
		size_t t = 0;
		while (t < ELEMENTSOF(texts) && strcmp(key, texts[t].key))
			t++;
		if (t < ELEMENTSOF(texts)) {
			size_t n = strlen(value);
			if (n >= texts[t].size)
				return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: the value of %s is too long", path,
						    number, key);
			memcpy(texts[t].dst, value, n + 1);
		} else if (!strcmp(key, "boot-attempts")) {
			c->boot_attempts = (unsigned)strtoul(value, NULL, 10);
			if (c->boot_attempts < 1 || c->boot_attempts > 9)
				return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: boot-attempts takes 1 to 9", path,
						    number);
		}
		else if (!strcmp(key, "allow-unsigned") || !strcmp(key, "readback")) {
			bool *b = key[0] == 'a' ? &c->allow_unsigned : &c->readback;
			if (parse_bool(value, b) < 0)
				return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: %s takes yes or no", path,
						    number, key);
		} else if (!strncmp(key, "target.", 7)) {
			if ((r = add_target(c, key + 7, strlen(key + 7), value, err)) < 0)
				return r;
		} else
			return lb_error_set(err, EINVAL, LB_E_USAGE, "%s:%u: unknown key '%s'", path, number, key);
	}
	return 0;
}

int lb_config_boot(const struct lb_config *c, struct lb_boot *ret, bool *ret_configured, struct lb_error *err)
{
	*ret_configured = c->boot_backend[0] != '\0';
	if (!*ret_configured)
		return 0;
	if (!c->boot_env[0])
		return lb_error_set(err, EINVAL, LB_E_USAGE, "boot-backend is set but boot-env (its environment file) is not");
	return lb_boot_open(ret, c->boot_backend, c->boot_env, c->boot_attempts, err);
}

void lb_config_install_options(const struct lb_config *c, struct lb_target_spec specs[LB_IMAGES_MAX],
			       const struct lb_boot *boot, struct lb_install_options *ret)
{
	for (unsigned i = 0; i < c->target_count; i++)
		specs[i] = (struct lb_target_spec){.role = c->target_role[i], .path = c->target_path[i]};
	ret->allow_unsigned = c->allow_unsigned;
	ret->compatible = c->compatible[0] ? c->compatible : NULL;
	ret->targets = specs;
	ret->target_count = c->target_count;
	ret->readback = c->readback;
	ret->boot = boot;
	ret->boot_slot = c->boot_slot;
}

void lb_config_pull_dir(const struct lb_config *c, char *ret, size_t size)
{
	if (c->pull_dir[0])
		snprintf(ret, size, "%s", c->pull_dir);
	else
		lb_log_dir(c->log_file, ret, size);
}
