/* Fuzz target: a whole bundle stream (preamble, manifest, signature block, chunk payload) fed to
 * the real installer in pieces of varying size, as a network would deliver it. The first byte
 * picks the mode and the piece sizes: a dry run (the in-order checker), or a real install onto
 * a 16 MiB in-memory file through the threaded pipeline. Unsigned bundles are allowed so that
 * mutated payloads get past the header. */
#include "lib/install.h"
#include "pieces.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct pieces p = {.data = data + 1, .size = size - 1, .state = data[0], .max = 4099};
	struct lb_input in = {.read = pieces_read, .ctx = &p};
	bool dry_run = data[0] & 1;

	char path[64] = "";
	int fd = -1;
	if (!dry_run) {
		fd = memfd_create("fuzz-target", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, 16 << 20) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	struct lb_target_spec spec = {"rootfs", path};
	struct lb_install_options opt = {
		.allow_unsigned = true,
		.compatible = "fuzz",
		.targets = &spec,
		.target_count = 1,
		.dry_run = dry_run,
		.readback = true,
		.threads = 2,
	};
	struct lb_install_result res;
	struct lb_error e = {0};
	int r = lb_install(&in, &opt, &res, &e);
	if ((r < 0) != lb_error_failed(&e))
		abort(); /* a failure without a reason, or a reason without a failure */
	if (fd >= 0)
		close(fd);
	return 0;
}
