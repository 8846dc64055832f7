/* What the command-line programs share for talking to a person or a script: the progress bar
 * on a terminal, JSON progress lines, and turning a struct lb_error into a message and an
 * exit code. Library code never prints; this is the program layer. */
#pragma once

#include "lib/error.h"
#include "lib/progress.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tool_progress {
	bool json;     /* JSON lines on stdout */
	bool bar;      /* a bar on stderr (only when stderr is a terminal) */
	double start;  /* monotonic seconds */
	double last;   /* last time something was printed */
	int last_phase;
};

double tool_now(void);

void tool_progress_init(struct tool_progress *t, bool json);

/* An lb_progress_fn: draws at most ten times a second, and on every phase change. */
void tool_progress_update(const struct lb_progress *p, void *userdata);

/* A bar for a plain "done of total" job (bundle creation). */
void tool_progress_bar(struct tool_progress *t, const char *label, uint64_t done, uint64_t total);

/* Ends the bar's line, if one was drawn. */
void tool_progress_finish(struct tool_progress *t);

/* A command-line verb: `PROGRAM NAME [OPTIONS]` runs `run` with argv starting at NAME. */
struct tool_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

/* Runs the verb named by argv[1]; `--help` (or no verb) lists them. Also answers `version`. */
int tool_dispatch(const char *program, const struct tool_verb *verbs, size_t count, int argc, char **argv);

/* Prints the error (JSON on stdout when `json`, else "PROGRAM: message" on stderr) and returns
 * its exit code: the error code's number, stable and documented in docs/cli.md. `target_state`
 * ("untouched" or "invalid") is added when not NULL. */
int tool_fail(const char *program, const struct lb_error *err, bool json, const char *target_state);
