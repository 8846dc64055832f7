/* GET /api/log: the last 64 KiB of the recovery's log, as text. */
#include "cgi-common.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;
	char *text = NULL;
	size_t size = 0;

	cgi_request_from_env(&req);
	if (cgi_refuse_unless_get(&req) || !cgi_load_config(&cfg))
		return 0;
	int r = lb_log_tail(cfg.log_file, 64 << 10, &text, &size);
	printf("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n\r\n");
	if (r == -ENOENT)
		printf("(the log is empty)\n");
	else if (r < 0)
		printf("(cannot read %s: %s)\n", cfg.log_file, strerror(-r));
	else
		fwrite(text, 1, size, stdout);
	free(text);
	return 0;
}
