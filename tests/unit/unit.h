/* A minimal unit-test harness: one program per module, tests named hierarchically
 * ("/manifest/parse/truncated"), each run in a fresh temporary directory that is removed
 * afterwards. Prints "ok NAME" or "FAIL NAME: where" per test, the format tests/run counts. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct unit_test {
	const char *name;
	void (*run)(void);
};

static bool unit_failed;
static char unit_where[512];
static char unit_dir[256]; /* the current test's temporary directory */

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			unit_failed = true;                                                                  \
			snprintf(unit_where, sizeof(unit_where), "%s:%d: %s", __FILE__, __LINE__, #cond);    \
			return;                                                                              \
		}                                                                                            \
	} while (0)

/* A path inside the test's temporary directory (static buffer: use before the next call). */
static inline const char *unit_path(const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *p = buf[next++ % 4];
	snprintf(p, 512, "%s/%s", unit_dir, name);
	return p;
}

static inline int unit_main(const struct unit_test *tests, size_t count)
{
	int failures = 0;
	for (size_t i = 0; i < count; i++) {
		snprintf(unit_dir, sizeof(unit_dir), "%s/lifeboat-unit-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(unit_dir)) {
			printf("FAIL %s: cannot make a temporary directory\n", tests[i].name);
			failures++;
			continue;
		}
		unit_failed = false;
		tests[i].run();
		if (unit_failed) {
			printf("FAIL %s: %s\n", tests[i].name, unit_where);
			failures++;
		} else
			printf("ok %s\n", tests[i].name);
		fflush(stdout);
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", unit_dir);
	}
	return failures ? 1 : 0;
}
