/* Small language helpers shared by every module: scope-based cleanup and array sizes.
 * Every *_free function used with these accepts NULL, so a cleanup variable may be
 * declared before it is assigned. */
#pragma once

#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hands a cleanup variable's value over to the caller, leaving NULL behind. */
#define TAKE_PTR(p)                                                                                          \
	({                                                                                                   \
		__typeof__(p) _p = (p);                                                                      \
		(p) = NULL;                                                                                  \
		_p;                                                                                          \
	})
#define TAKE_FD(fd)                                                                                          \
	({                                                                                                   \
		int _fd = (fd);                                                                              \
		(fd) = -1;                                                                                   \
		_fd;                                                                                         \
	})
