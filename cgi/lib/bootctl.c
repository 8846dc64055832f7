#include "bootctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lb_boot_backend {
	const char *name;
	int (*read)(const char *path, struct lb_bootenv *ret, struct lb_error *err);
	int (*write)(const char *path, const struct lb_bootenv *env, struct lb_error *err);
};

static int uboot_read(const char *path, struct lb_bootenv *ret, struct lb_error *err)
{
	return lb_ubootenv_read(path, LB_UBOOTENV_SIZE_DEFAULT, ret, err);
}

static int uboot_write(const char *path, const struct lb_bootenv *env, struct lb_error *err)
{
	return lb_ubootenv_write(path, LB_UBOOTENV_SIZE_DEFAULT, env, err);
}

static const struct lb_boot_backend backends[] = {
	{"grub", lb_grubenv_read, lb_grubenv_write},
	{"uboot", uboot_read, uboot_write},
	{"rpi", uboot_read, uboot_write},
};

int lb_boot_open(struct lb_boot *b, const char *backend, const char *env_path, unsigned attempts,
		 struct lb_error *err)
{
	*b = (struct lb_boot){.attempts = attempts ? attempts : LB_BOOT_ATTEMPTS_DEFAULT};
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i].name, backend))
			b->backend = &backends[i];
	if (!b->backend)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "unknown boot backend '%s' (grub, uboot or rpi)", backend);
	if (b->attempts > LB_BOOT_ATTEMPTS_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "boot attempts must be 1 to %d", LB_BOOT_ATTEMPTS_MAX);
	snprintf(b->env_path, sizeof(b->env_path), "%s", env_path);
	return 0;
}

const char *lb_boot_backend_name(const struct lb_boot *b)
{
	return b->backend->name;
}

static bool valid_slot(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= LB_BOOT_SLOT_NAME_MAX || !strcmp(s, "recovery"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static void left_key(const char *slot, char *ret, size_t size)
{
	snprintf(ret, size, "LB_%s_LEFT", slot);
}

static void version_key(const char *slot, char *ret, size_t size)
{
	snprintf(ret, size, "LB_%s_VERSION", slot);
}

/* A damaged or unknown value reads as "no attempts": whatever cannot be read safely leads to
 * the recovery, never to a main that might not boot. */
int lb_boot_load(const struct lb_boot *b, struct lb_boot_state *ret, struct lb_error *err)
{
	struct lb_boot_state s = {0};
	int r = b->backend->read(b->env_path, &s.env, err);
	if (r < 0)
		return r;
	const char *order = lb_bootenv_get(&s.env, "LB_ORDER");
	char buf[LB_BOOTENV_VALUE_MAX];
	snprintf(buf, sizeof(buf), "%s", order ? order : "");
	char *save = NULL;
	for (char *slot = strtok_r(buf, " ", &save); slot; slot = strtok_r(NULL, " ", &save)) {
		if (!strcmp(slot, "recovery"))
			break; /* the end of the order, explicitly */
		if (!valid_slot(slot) || s.order_count == LB_BOOT_SLOTS_MAX)
			continue;
		unsigned i = s.order_count++;
		snprintf(s.order[i], sizeof(s.order[i]), "%s", slot);
		char key[64];
		left_key(slot, key, sizeof(key));
		const char *left = lb_bootenv_get(&s.env, key);
		s.left[i] = left && left[0] >= '0' && left[0] <= '9' && !left[1] ? (unsigned)(left[0] - '0') : 0;
		version_key(slot, key, sizeof(key));
		const char *version = lb_bootenv_get(&s.env, key);
		snprintf(s.version[i], sizeof(s.version[i]), "%s", version ? version : "");
	}
	const char *oneshot = lb_bootenv_get(&s.env, "LB_ONESHOT");
	s.oneshot_recovery = oneshot && !strcmp(oneshot, "recovery");
	*ret = s;
	return 0;
}

int lb_boot_save(const struct lb_boot *b, const struct lb_boot_state *s, struct lb_error *err)
{
	struct lb_bootenv env = s->env;
	char order[LB_BOOTENV_VALUE_MAX] = "";
	for (unsigned i = 0; i < s->order_count; i++) {
		char key[64], value[8];
		strncat(order, s->order[i], sizeof(order) - strlen(order) - 1);
		strncat(order, " ", sizeof(order) - strlen(order) - 1);
		left_key(s->order[i], key, sizeof(key));
		snprintf(value, sizeof(value), "%u", s->left[i]);
		lb_bootenv_set(&env, key, value);
		version_key(s->order[i], key, sizeof(key));
		lb_bootenv_set(&env, key, s->version[i]);
	}
	strncat(order, "recovery", sizeof(order) - strlen(order) - 1);
	lb_bootenv_set(&env, "LB_ORDER", order);
	lb_bootenv_set(&env, "LB_ONESHOT", s->oneshot_recovery ? "recovery" : "");
	return b->backend->write(b->env_path, &env, err);
}

static int find(const struct lb_boot_state *s, const char *slot)
{
	for (unsigned i = 0; i < s->order_count; i++)
		if (!strcmp(s->order[i], slot))
			return (int)i;
	return -1;
}

unsigned lb_boot_attempts_left(const struct lb_boot_state *s, const char *slot)
{
	int i = find(s, slot);
	return i < 0 ? 0 : s->left[i];
}

static void remove_slot(struct lb_boot_state *s, int i, const char *slot)
{
	char key[64];
	memmove(s->order[i], s->order[i + 1], (s->order_count - (unsigned)i - 1) * sizeof(s->order[0]));
	memmove(&s->left[i], &s->left[i + 1], (s->order_count - (unsigned)i - 1) * sizeof(s->left[0]));
	memmove(s->version[i], s->version[i + 1], (s->order_count - (unsigned)i - 1) * sizeof(s->version[0]));
	s->order_count--;
	left_key(slot, key, sizeof(key));
	lb_bootenv_set(&s->env, key, "0");
	version_key(slot, key, sizeof(key));
	lb_bootenv_set(&s->env, key, "");
}

/* The start of every slot operation: a valid slot name, the current state, and the slot's
 * position in the order (-1: not in it). */
static int load_for_slot(const struct lb_boot *b, const char *slot, struct lb_boot_state *s, int *ret_index,
			 struct lb_error *err)
{
	if (!valid_slot(slot))
		return lb_error_set(err, EINVAL, LB_E_USAGE, "'%s' is not a main slot name", slot);
	int r = lb_boot_load(b, s, err);
	if (r < 0)
		return r;
	*ret_index = find(s, slot);
	return 0;
}

int lb_boot_invalidate(const struct lb_boot *b, const char *slot, struct lb_error *err)
{
	struct lb_boot_state s;
	int i, r = load_for_slot(b, slot, &s, &i, err);
	if (r < 0)
		return r;
	if (i >= 0)
		remove_slot(&s, i, slot);
	return lb_boot_save(b, &s, err);
}

int lb_boot_activate(const struct lb_boot *b, const char *slot, const char *version, struct lb_error *err)
{
	struct lb_boot_state s;
	int i, r = load_for_slot(b, slot, &s, &i, err);
	if (r < 0)
		return r;
	if (i >= 0)
		remove_slot(&s, i, slot);
	if (s.order_count == LB_BOOT_SLOTS_MAX)
		s.order_count--; /* the last one falls off: the new slot comes first */
	memmove(s.order[1], s.order[0], s.order_count * sizeof(s.order[0]));
	memmove(&s.left[1], &s.left[0], s.order_count * sizeof(s.left[0]));
	memmove(s.version[1], s.version[0], s.order_count * sizeof(s.version[0]));
	snprintf(s.order[0], sizeof(s.order[0]), "%s", slot);
	snprintf(s.version[0], sizeof(s.version[0]), "%s", version ? version : "");
	s.left[0] = b->attempts;
	s.order_count++;
	s.oneshot_recovery = false;
	return lb_boot_save(b, &s, err);
}

int lb_boot_mark_good(const struct lb_boot *b, const char *slot, struct lb_error *err)
{
	struct lb_boot_state s;
	int i, r = load_for_slot(b, slot, &s, &i, err);
	if (r < 0)
		return r;
	if (i < 0)
		return lb_error_set(err, ENOENT, LB_E_USAGE,
				    "slot %s is not in the boot order (an install into it did not finish): not "
				    "marking it good",
				    slot);
	if (s.left[i] == b->attempts)
		return 0; /* nothing to write: spare the card a write on every boot */
	s.left[i] = b->attempts;
	return lb_boot_save(b, &s, err);
}

int lb_boot_set_oneshot_recovery(const struct lb_boot *b, bool on, struct lb_error *err)
{
	struct lb_boot_state s;
	int r = lb_boot_load(b, &s, err);
	if (r < 0)
		return r;
	s.oneshot_recovery = on;
	return lb_boot_save(b, &s, err);
}

int lb_boot_rpi_handover(const struct lb_boot *b, const char *slot, bool *ret_try_main, struct lb_error *err)
{
	struct lb_boot_state s;
	int r = lb_boot_load(b, &s, err);
	if (r < 0)
		return r;
	*ret_try_main = false;
	if (s.oneshot_recovery) {
		/* The recovery was asked for: stay, and hand over again on the next boot. */
		s.oneshot_recovery = false;
		return lb_boot_save(b, &s, err);
	}
	int i = find(&s, slot);
	if (i < 0 || s.left[i] == 0)
		return 0;
	/* The attempt is counted before the trial boot begins, as a boot loader would. */
	s.left[i]--;
	if ((r = lb_boot_save(b, &s, err)) < 0)
		return r;
	*ret_try_main = true;
	return 0;
}
