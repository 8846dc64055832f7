/* Fuzz target: the squashfs reading path, on arbitrary bytes as a written image or a recovery
 * partition would hold them. Each input goes through a descriptor as the installer checks a
 * written image (super block, the whole tree, the version files), from memory as the
 * self-check hashes the file system's own bytes, and as the text of an os-release file. Every
 * refusal must say why, and what the image says about itself must come out as printable text. */
#include "lib/image-check.h"
#include "lib/squashfs-image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* libsquashfs allocates an inode's block list from the file size the inode claims, and answers a
 * failed allocation with an error. A device has a few hundred MiB: an absurd size fails there,
 * and must be reported as a damaged image. The sanitizer's default is to abort instead; this
 * makes the build behave as the device does. */
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

static void check_printable(const char *text)
{
	for (const char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
}

static void as_written_image(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	struct lb_image_check c;
	struct lb_error e = {0};
	int r = lb_image_check(fd, size, "rootfs", &c, &e);
	if ((r < 0) != lb_error_failed(&e))
		abort(); /* a failure without a reason, or a reason without a failure */
	if (r == 0) {
		check_printable(c.version);
		char line[512];
		lb_image_check_describe(&c, line, sizeof(line));
	}
	close(fd);
}

static void as_memory(const uint8_t *data, size_t size)
{
	struct lb_squashfs *fs = NULL;
	struct lb_error e = {0};
	int r = lb_squashfs_open_memory(data, size, &fs, &e);
	if ((r < 0) != lb_error_failed(&e))
		abort();
	if (r < 0)
		return;
	if (lb_squashfs_info(fs)->bytes_used > size)
		abort(); /* the super block check must keep reads inside the source */
	struct lb_squashfs_digests d;
	if ((lb_squashfs_hash(fs, &d, &e) < 0) != lb_error_failed(&e))
		abort();
	lb_squashfs_close(fs);
}

static void as_os_release(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), version[LB_IMAGE_VERSION_MAX];
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	lb_os_release_version(text, version, sizeof(version));
	check_printable(version);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_written_image(data, size);
	as_memory(data, size);
	as_os_release(data, size);
	return 0;
}
