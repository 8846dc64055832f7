/* Installs pulled from a URL (docs/pull.md). The install itself: a bundle read through the
 * resuming HTTP input (http-input.h) into the same installer an upload goes through, with the
 * state file kept current for the page and the kiosk. And the two files main and the recovery
 * exchange in the pull directory (pull-dir, on the data partition both see): the request main
 * leaves for the recovery's next boot, and the result the recovery leaves for main. */
#pragma once

#include "config.h"
#include "error.h"
#include "install.h"
#include "url.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LB_PULL_REQUEST_FILE "install-request"
#define LB_PULL_TAKEN_FILE "install-request.taken"
#define LB_PULL_RESULT_FILE "install-result"

/* How a pull ended: what the result file holds. */
struct lb_pull_result {
	bool known;	      /* false: no result file */
	char result[16];      /* "installed" or "failed" */
	char code[32];	      /* the error's name (error.h) when failed */
	char message[LB_ERROR_MESSAGE_MAX];
	char version[LB_TOKEN_MAX + 1];
	char url[LB_URL_MAX + 1];
	int64_t time;	      /* epoch seconds */
	bool target_touched;  /* writing began: main is not its old self */
	unsigned reconnects;  /* connections resumed by Range */
	uint64_t bundle_size; /* bytes pulled (a delta pull fetches only what main lacked) */
	/* lb_pull_install only (not in the file): the installer's own result */
	struct lb_install_result install;
};

struct lb_pull_options {
	const char *program;	   /* the name in the log's lines */
	bool keep_state;	   /* keep the state file current; the caller holds the install lock */
	const atomic_bool *cancel; /* set from outside to stop */
	lb_progress_fn progress;   /* besides the state file (NULL: none) */
	void *userdata;
	void (*on_reconnect)(void *userdata, const char *message); /* besides the log (NULL: none) */
	unsigned threads;	   /* 0: one per CPU */
	bool no_delta;		   /* download the whole bundle even when main holds parts of it */
	unsigned backoff_ms;	   /* the first wait before a reconnect (0: 500 ms) */
	unsigned open_retry_seconds; /* how long the first connection is tried (0: once) */
};

/* Pulls the bundle at `url` and installs it as configured in `cfg` (keyring, board, targets,
 * boot control, read-back; pull-ca for https), logging to its log file. `ret` is always filled
 * (result, code, message, version, target_touched, reconnects). Returns 0 when installed. */
int lb_pull_install(const struct lb_config *cfg, const char *url, const struct lb_pull_options *opt,
		    struct lb_pull_result *ret, struct lb_error *err);

/* Leaves a request for the recovery's next boot: "url=" and "time=" lines, written atomically
 * (the URL is checked first). */
int lb_pull_request_write(const char *dir, const char *url, int64_t now, struct lb_error *err);

/* Takes the request: moves it aside to LB_PULL_TAKEN_FILE first, so that an install that
 * crashes or hangs is not started again at the next boot, then reads it. -ENOENT: none. */
int lb_pull_request_take(const char *dir, char *ret_url, size_t size);

/* The result file: written atomically; loading a missing one gives known = false. */
int lb_pull_result_save(const char *dir, const struct lb_pull_result *r);
int lb_pull_result_load(const char *dir, struct lb_pull_result *ret);

/* The result as a JSON object (null when not known). */
void lb_pull_result_json(const struct lb_pull_result *r, FILE *f);
