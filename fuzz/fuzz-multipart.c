/* Fuzz target: the multipart/form-data decoder, on arbitrary bodies delivered in pieces of
 * varying size. The first byte picks the piece sizes; the boundary is fixed, as a browser's
 * Content-Type would give it. Whatever comes out must be a part of the input. */
#include "lib/multipart.h"
#include "pieces.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct pieces p = {.data = data + 1, .size = size - 1, .state = data[0], .max = 300};
	struct lb_input source = {.read = pieces_read, .ctx = &p}, in;
	static struct lb_multipart mp;
	struct lb_error e = {0};
	if (lb_multipart_init(&mp, &source, "multipart/form-data; boundary=----fuzzBoundary", &e) < 0)
		abort();
	lb_multipart_input(&mp, &in);
	uint8_t buf[1000];
	size_t total = 0;
	for (;;) {
		ssize_t n = in.read(in.ctx, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (!memmem(data + 1, size - 1, buf, (size_t)n))
			abort(); /* output that was not in the input */
		total += (size_t)n;
		if (total > size)
			abort();
	}
	return 0;
}
