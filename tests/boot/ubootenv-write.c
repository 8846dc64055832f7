/* ubootenv-write FILE [KEY=VALUE...]: the U-Boot boot state pair FILE and FILE.redund (4096 bytes
 * each, the `env export -c` format) holding exactly these variables, written by the project's
 * own writer, lb_ubootenv_write() (the first copy, flushed, then the second), as `lifeboat` writes
 * it on the device. No KEY=VALUE: an intact, empty environment. The files are created (zeroed)
 * when absent, since the writer only rewrites files in place.
 *
 * A host-side helper of tests/boot/arm64-uboot.sh, built by it against build/lib/liblifeboat.a:
 * the `lifeboat` command has no verb that sets an arbitrary boot state. */
#include "lib/bootenv.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int create_zeroed(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	int r = st.st_size == 0 ? ftruncate(fd, LB_UBOOTENV_SIZE_DEFAULT) : 0;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ubootenv-write FILE [KEY=VALUE...]\n");
		return 2;
	}
	struct lb_bootenv env = {0};
	for (int i = 2; i < argc; i++) {
		char key[LB_BOOTENV_KEY_MAX];
		const char *eq = strchr(argv[i], '=');
		if (!eq || (size_t)(eq - argv[i]) >= sizeof(key)) {
			fprintf(stderr, "ubootenv-write: '%s' is not KEY=VALUE\n", argv[i]);
			return 2;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (lb_bootenv_set(&env, key, eq + 1) < 0) {
			fprintf(stderr, "ubootenv-write: cannot set '%s'\n", argv[i]);
			return 2;
		}
	}
	char second[4096];
	snprintf(second, sizeof(second), "%s.redund", argv[1]);
	if (create_zeroed(argv[1]) < 0 || create_zeroed(second) < 0) {
		perror("ubootenv-write");
		return 1;
	}
	struct lb_error err = {0};
	if (lb_ubootenv_write(argv[1], LB_UBOOTENV_SIZE_DEFAULT, &env, &err) < 0) {
		fprintf(stderr, "ubootenv-write: %s\n", err.message);
		return 1;
	}
	return 0;
}
