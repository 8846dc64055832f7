/* Boot-loader environment storage: a small set of key=value pairs that the boot loader reads
 * at every boot, in the two on-disk formats the supported boot loaders understand.
 *   grubenv:  GRUB's 1024-byte environment block, rewritten in place (GRUB's save_env needs
 *             the file's blocks to stay where they are). All variables fit in its first
 *             512-byte sector, so a write changes one sector only.
 *   uboot:    the fw_printenv/`env export -c` format (CRC32, then "key=value\0" pairs), kept
 *             twice (FILE and FILE.redund): a write replaces the first copy, then the second,
 *             each flushed before the next begins, so one copy is always whole; a reader takes
 *             the first copy whose CRC is right. */
#pragma once

#include "error.h"

#include <stddef.h>

#define LB_BOOTENV_MAX 32
#define LB_BOOTENV_KEY_MAX 32
#define LB_BOOTENV_VALUE_MAX 128
#define LB_GRUBENV_SIZE 1024
#define LB_UBOOTENV_SIZE_DEFAULT 4096

struct lb_bootenv {
	unsigned count;
	char keys[LB_BOOTENV_MAX][LB_BOOTENV_KEY_MAX];
	char values[LB_BOOTENV_MAX][LB_BOOTENV_VALUE_MAX];
};

/* NULL when absent. */
const char *lb_bootenv_get(const struct lb_bootenv *env, const char *key);
int lb_bootenv_set(struct lb_bootenv *env, const char *key, const char *value);

int lb_grubenv_read(const char *path, struct lb_bootenv *ret, struct lb_error *err);
int lb_grubenv_write(const char *path, const struct lb_bootenv *env, struct lb_error *err);

/* `size` is the environment size both copies have (the fw_env.config size). */
int lb_ubootenv_read(const char *path, size_t size, struct lb_bootenv *ret, struct lb_error *err);
int lb_ubootenv_write(const char *path, size_t size, const struct lb_bootenv *env, struct lb_error *err);

/* The CRC-32 (IEEE 802.3, as zlib and U-Boot compute it). */
unsigned long lb_crc32(const void *data, size_t size);
