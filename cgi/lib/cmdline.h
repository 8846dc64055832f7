/* The kernel command line (/proc/cmdline): the parameters the boot loader hands the recovery
 * (lifeboat.reason=, lifeboat.slot=, lifeboat.sha256=, root=), looked up the way the kernel
 * itself reads them: a parameter starts the line or follows a blank, and the last one wins. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LB_CMDLINE_PATH "/proc/cmdline"
#define LB_CMDLINE_MAX (16 << 10)

/* Copies the value of `key` ("lifeboat.reason", without the '=') into `ret` (cut to fit).
 * False, with `ret` empty, when the parameter is absent. */
bool lb_cmdline_value(const char *cmdline, const char *key, char *ret, size_t size);

/* Reads a command line file (NULL: LB_CMDLINE_PATH) into a heap string; NULL when unreadable. */
char *lb_cmdline_read(const char *path);
