/* Replays a fuzz target's corpus as an ordinary test, for machines and runs without libFuzzer:
 * every file in the directory given as the argument goes through LLVMFuzzerTestOneInput once,
 * under the sanitizers of the build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	const char *name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
	DIR *d = opendir(argv[1]);
	if (!d) {
		printf("FAIL /fuzz/%s/replay: no corpus at %s\n", name, argv[1]);
		return 1;
	}
	unsigned count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		rewind(f);
		uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
		size_t n = buf ? fread(buf, 1, (size_t)size, f) : 0;
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		count++;
	}
	closedir(d);
	if (count == 0) {
		printf("FAIL /fuzz/%s/replay: the corpus is empty\n", name);
		return 1;
	}
	printf("ok /fuzz/%s/replay (%u inputs)\n", name, count);
	return 0;
}
