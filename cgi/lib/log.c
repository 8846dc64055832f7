#include "log.h"
#include "io.h"
#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void lb_log(const char *path, const char *program, const char *fmt, ...)
{
	char line[1024];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", program);
	va_list ap;
	va_start(ap, fmt);
	if (n < sizeof(line))
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';

	_cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		(void)!write(fd, line, n);
}

int lb_log_tail(const char *path, size_t max, char **ret_text, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	size_t size = (size_t)st.st_size < max ? (size_t)st.st_size : max;
	uint64_t from = (uint64_t)st.st_size - size;
	_cleanup_free_ char *buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	int r = lb_pread_full(fd, buf, size, from);
	if (r < 0)
		return r;
	buf[size] = '\0';
	size_t skip = 0;
	if (from > 0) {
		char *nl = memchr(buf, '\n', size);
		skip = nl ? (size_t)(nl - buf) + 1 : 0;
	}
	memmove(buf, buf + skip, size - skip + 1);
	*ret_size = size - skip;
	*ret_text = TAKE_PTR(buf);
	return 0;
}
