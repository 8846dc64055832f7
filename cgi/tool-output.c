#include "tool-output.h"
#include "lib/json.h"
#include "lib/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double tool_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tool_progress_init(struct tool_progress *t, bool json)
{
	*t = (struct tool_progress){.json = json, .bar = !json && isatty(STDERR_FILENO), .last_phase = -1};
	t->start = tool_now();
}

static void draw_bar(struct tool_progress *t, const char *label, uint64_t done, uint64_t total)
{
	double elapsed = tool_now() - t->start;
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	unsigned percent = total ? (unsigned)(done * 100 / total) : 0;
	char bar[31];
	unsigned filled = percent * 30 / 100;
	for (unsigned i = 0; i < 30; i++)
		bar[i] = i < filled ? '#' : '-';
	bar[30] = '\0';
	char eta[32] = "";
	if (rate > 0 && total > done) {
		unsigned s = (unsigned)((double)(total - done) / rate);
		snprintf(eta, sizeof(eta), "  ETA %u:%02u", s / 60, s % 60);
	}
	fprintf(stderr, "\r%-10s [%s] %3u%%  %7.1f/%.1f MiB  %6.1f MB/s%s\033[K", label, bar, percent,
		(double)done / 1048576.0, (double)total / 1048576.0, rate / 1e6, eta);
	fflush(stderr);
}

void tool_progress_update(const struct lb_progress *p, void *userdata)
{
	struct tool_progress *t = userdata;
	double now = tool_now();
	bool phase_changed = (int)p->phase != t->last_phase;
	if (!phase_changed && now - t->last < 0.1)
		return;
	t->last = now;
	t->last_phase = (int)p->phase;

	if (t->json) {
		printf("{\"event\":\"progress\",\"phase\":\"%s\",\"received\":%" PRIu64 ",\"bundle_size\":%" PRIu64
		       ",\"written\":%" PRIu64 ",\"readback\":%" PRIu64 ",\"image_total\":%" PRIu64 "}\n",
		       lb_phase_name(p->phase), p->received, p->bundle_size, p->written, p->readback,
		       p->image_total);
		fflush(stdout);
		return;
	}
	if (!t->bar)
		return;
	if (p->phase == LB_PHASE_READBACK)
		draw_bar(t, "read-back", p->readback, p->image_total);
	else if (p->phase == LB_PHASE_WRITING || p->phase == LB_PHASE_SYNCING)
		draw_bar(t, lb_phase_name(p->phase), p->written, p->image_total);
}

void tool_progress_bar(struct tool_progress *t, const char *label, uint64_t done, uint64_t total)
{
	double now = tool_now();
	if (!t->bar || (now - t->last < 0.1 && done < total))
		return;
	t->last = now;
	draw_bar(t, label, done, total);
}

void tool_progress_finish(struct tool_progress *t)
{
	if (t->bar && t->last > 0)
		fputc('\n', stderr);
}

int tool_fail(const char *program, const struct lb_error *err, bool json, const char *target_state)
{
	if (json) {
		printf("{\"event\":\"error\",\"code\":\"%s\",\"exit\":%d,\"message\":", lb_code_name(err->code),
		       (int)err->code);
		lb_json_string(stdout, err->message);
		if (target_state)
			printf(",\"target\":\"%s\"", target_state);
		printf("}\n");
		fflush(stdout);
	} else {
		fprintf(stderr, "%s: %s\n", program, err->message);
		if (target_state)
			fprintf(stderr, "%s: the target is %s\n", program,
				target_state[0] == 'u' ? "unchanged" : "no longer valid: install again");
	}
	return (int)err->code;
}

int tool_dispatch(const char *program, const struct tool_verb *verbs, size_t count, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("Usage: %s VERB [OPTIONS]\n\n", program);
		for (size_t i = 0; i < count; i++)
			printf("  %-16s %s\n", verbs[i].name, verbs[i].help);
		printf("  %-16s %s\n\n'%s VERB --help' tells more.\n", "version", "print this program's version", program);
		return argc < 2 ? LB_E_USAGE : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("%s\n", LB_VERSION);
		return 0;
	}
	for (size_t i = 0; i < count; i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown verb '%s'\nTry '%s --help'.\n", program, argv[1], program);
	return LB_E_USAGE;
}
