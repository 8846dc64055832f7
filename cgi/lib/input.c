#include "input.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static ssize_t fd_read(void *ctx, void *buf, size_t size)
{
	for (;;) {
		ssize_t n = read(*(int *)ctx, buf, size);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

void lb_input_init_fd(struct lb_input *in, int *fd)
{
	in->read = fd_read;
	in->ctx = fd;
	in->consumed = 0;
}

static ssize_t buffer_read(void *ctx, void *buf, size_t size)
{
	struct lb_input_buffer *b = ctx;
	size_t n = b->size - b->pos < size ? b->size - b->pos : size;
	memcpy(buf, (const char *)b->data + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

void lb_input_init_buffer(struct lb_input *in, struct lb_input_buffer *b)
{
	in->read = buffer_read;
	in->ctx = b;
	in->consumed = 0;
}

static ssize_t prefixed_read(void *ctx, void *buf, size_t size)
{
	struct lb_input_prefixed *p = ctx;
	if (p->prefix.pos < p->prefix.size)
		return buffer_read(&p->prefix, buf, size);
	return p->rest->read(p->rest->ctx, buf, size);
}

void lb_input_init_prefixed(struct lb_input *in, struct lb_input_prefixed *p)
{
	in->read = prefixed_read;
	in->ctx = p;
	in->consumed = 0;
}

ssize_t lb_input_read_full(struct lb_input *in, void *buf, size_t size)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = in->read(in->ctx, (char *)buf + done, size - done);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	in->consumed += done;
	return (ssize_t)done;
}
