/* The recovery's log: one timestamped line per event, appended to a file that /api/log serves
 * and the kiosk shows. Appends of one line are atomic with O_APPEND, so the CGI programs can
 * log concurrently without a lock. */
#pragma once

#include <stddef.h>

/* Appends "YYYY-MM-DDTHH:MM:SSZ PROGRAM: message\n". Failure to log is not an error for the
 * caller: the log is a help, not a record the device depends on. */
void lb_log(const char *path, const char *program, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads at most the last `max` bytes of the log, starting at a line boundary. */
int lb_log_tail(const char *path, size_t max, char **ret_text, size_t *ret_size);
