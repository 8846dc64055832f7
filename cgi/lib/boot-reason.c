#include "boot-reason.h"
#include "cmdline.h"
#include "io.h"
#include "json.h"
#include "macro.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static const struct {
	const char *word;
	enum lb_boot_reason reason;
	const char *text;
} reasons[] = {
    {"requested", LB_BOOT_REASON_REQUESTED, "a reboot into the recovery was requested"},
    {"attempts-exhausted", LB_BOOT_REASON_ATTEMPTS_EXHAUSTED, "main used up its boot attempts"},
    {"no-main", LB_BOOT_REASON_NO_MAIN, "no bootable main system"},
    {"state-unwritable", LB_BOOT_REASON_STATE_UNWRITABLE, "the boot loader could not save main's boot attempt"},
};

enum lb_boot_reason lb_boot_reason_parse(const char *cmdline, char *ret_word, size_t size)
{
	char word[LB_BOOT_REASON_WORD_MAX];
	if (size)
		ret_word[0] = '\0';
	if (!lb_cmdline_value(cmdline, "lifeboat.reason", word, sizeof(word)))
		return LB_BOOT_REASON_NONE;
	/* the word reaches JSON, a log line and consoles: printable ASCII only */
	for (char *c = word; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	snprintf(ret_word, size, "%s", word);
	for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
		if (!strcmp(word, reasons[i].word))
			return reasons[i].reason;
	return LB_BOOT_REASON_OTHER;
}

const char *lb_boot_reason_text(const char *word)
{
	for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
		if (!strcmp(word, reasons[i].word))
			return reasons[i].text;
	return *word ? "a reason this recovery does not know" : "no reason given";
}

bool lb_boot_reason_is_failure(enum lb_boot_reason reason)
{
	return reason != LB_BOOT_REASON_NONE && reason != LB_BOOT_REASON_REQUESTED;
}

static void failure_path(const char *dir, char *ret, size_t size)
{
	snprintf(ret, size, "%s/%s", dir, LB_BOOT_FAILURE_FILE);
}

int lb_boot_failure_load(const char *dir, const char *boot_id, struct lb_boot_failure *ret)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	*ret = (struct lb_boot_failure){0};
	failure_path(dir, path, sizeof(path));
	int r = lb_read_file(path, 4096, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *cursor = text, *line, *v;
	while (lb_next_key_value(&cursor, &line, &v)) {
		if (!strcmp(line, "reason"))
			snprintf(ret->reason, sizeof(ret->reason), "%s", v);
		else if (!strcmp(line, "time"))
			ret->time = strtoll(v, NULL, 10);
		else if (!strcmp(line, "boot_id"))
			snprintf(ret->boot_id, sizeof(ret->boot_id), "%s", v);
	}
	ret->known = ret->reason[0] != '\0';
	ret->this_boot = ret->known && boot_id && *boot_id && !strcmp(boot_id, ret->boot_id);
	return 0;
}

int lb_boot_failure_record(const char *dir, const char *cmdline, const char *boot_id, int64_t now,
			   bool *ret_recorded)
{
	char word[LB_BOOT_REASON_WORD_MAX], path[4096], text[256];
	struct lb_boot_failure kept;
	*ret_recorded = false;
	if (!lb_boot_reason_is_failure(lb_boot_reason_parse(cmdline, word, sizeof(word))))
		return 0;
	int r = lb_boot_failure_load(dir, boot_id, &kept);
	if (r == 0 && kept.this_boot) {
		*ret_recorded = true;
		return 0;
	}
	int n = snprintf(text, sizeof(text), "reason=%s\ntime=%" PRId64 "\nboot_id=%s\n", word, now, boot_id);
	failure_path(dir, path, sizeof(path));
	r = lb_write_file_atomic(path, text, (size_t)n, 0644);
	if (r == 0)
		*ret_recorded = true;
	return r;
}

void lb_boot_failure_json(const struct lb_boot_failure *f, FILE *out)
{
	if (!f->known) {
		fputs("null", out);
		return;
	}
	fputs("{\"reason\":", out);
	lb_json_string(out, f->reason);
	fputs(",\"text\":", out);
	lb_json_string(out, lb_boot_reason_text(f->reason));
	fprintf(out, ",\"time\":%" PRId64 ",\"this_boot\":%s}", f->time, f->this_boot ? "true" : "false");
}

void lb_boot_id(char *ret, size_t size)
{
	_cleanup_free_ char *text = NULL;
	if (lb_read_file(LB_BOOT_ID_PATH, 256, &text, NULL) < 0) {
		snprintf(ret, size, "%s", "");
		return;
	}
	snprintf(ret, size, "%.*s", (int)strcspn(text, " \t\r\n"), text);
}

void lb_log_dir(const char *log_file, char *ret, size_t size)
{
	const char *slash = strrchr(log_file, '/');
	if (!slash)
		snprintf(ret, size, ".");
	else if (slash == log_file)
		snprintf(ret, size, "/");
	else
		snprintf(ret, size, "%.*s", (int)(slash - log_file), log_file);
}
