/* Fuzz target: the manifest parser, on arbitrary text. Whatever parses must format back to the
 * exact same bytes (the format is canonical: one spelling per manifest). */
#include "lib/manifest.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_manifest m;
	struct lb_error e = {0};
	if (lb_manifest_parse((const char *)data, size, &m, &e) < 0) {
		if (!lb_error_failed(&e))
			abort(); /* every refusal must say why */
		return 0;
	}
	char *text;
	size_t text_size;
	if (lb_manifest_format(&m, &text, &text_size) < 0)
		abort();
	if (text_size != size || memcmp(text, data, size) != 0)
		abort();
	free(text);
	lb_manifest_free(&m);
	return 0;
}
