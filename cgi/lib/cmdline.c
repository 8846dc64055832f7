#include "cmdline.h"
#include "io.h"

#include <stdio.h>
#include <string.h>

bool lb_cmdline_value(const char *cmdline, const char *key, char *ret, size_t size)
{
	size_t key_len = strlen(key);
	bool found = false;
	if (size)
		ret[0] = '\0';
	for (const char *p = cmdline; (p = strstr(p, key)); p++) {
		if ((p != cmdline && p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n') || p[key_len] != '=')
			continue;
		const char *v = p + key_len + 1;
		size_t n = strcspn(v, " \t\r\n");
		if (size)
			snprintf(ret, size, "%.*s", (int)n, v);
		found = true;
	}
	return found;
}

char *lb_cmdline_read(const char *path)
{
	char *text = NULL;
	if (lb_read_file(path ? path : LB_CMDLINE_PATH, LB_CMDLINE_MAX, &text, NULL) < 0)
		return NULL;
	return text;
}
