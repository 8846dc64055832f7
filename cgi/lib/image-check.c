#include "image-check.h"
#include "io.h"
#include "json.h"
#include "macro.h"
#include "squashfs-image.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define VERSION_FILE_MAX (16u << 10)

static void lb_squashfs_closep(struct lb_squashfs **fs)
{
	lb_squashfs_close(*fs);
}

/* Copies `n` bytes as printable ASCII: the version goes into JSON, the log and a console of
 * unknown abilities, and an image's bytes are not trusted to be valid UTF-8. */
static void copy_printable(char *ret, size_t size, const char *text, size_t n)
{
	while (n > 0 && (*text == ' ' || *text == '\t')) {
		text++;
		n--;
	}
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r'))
		n--;
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		ret[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (size)
		ret[k] = '\0';
}

/* An os-release value: unquoted, or in double quotes (with \" \\ \$ \` escapes) or in single
 * quotes, as the file's shell-like syntax has it. */
static void os_release_unquote(const char *v, size_t n, char *ret, size_t size)
{
	char buf[LB_IMAGE_VERSION_MAX * 2];
	size_t k = 0;
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		char quote = v[0];
		for (size_t i = 1; i + 1 < n && k + 1 < sizeof(buf); i++) {
			if (quote == '"' && v[i] == '\\' && i + 2 < n)
				i++;
			buf[k++] = v[i];
		}
	} else
		for (size_t i = 0; i < n && k + 1 < sizeof(buf); i++)
			buf[k++] = v[i];
	copy_printable(ret, size, buf, k);
}

static void os_release_field(const char *text, const char *key, char *ret, size_t size)
{
	size_t key_len = strlen(key);
	ret[0] = '\0';
	for (const char *line = text; *line;) {
		size_t n = strcspn(line, "\n");
		if (n > key_len && !strncmp(line, key, key_len) && line[key_len] == '=')
			os_release_unquote(line + key_len + 1, n - key_len - 1, ret, size);
		line += n + (line[n] == '\n');
	}
}

void lb_os_release_version(const char *text, char *ret, size_t size)
{
	char name[LB_IMAGE_VERSION_MAX], version[LB_IMAGE_VERSION_MAX];
	os_release_field(text, "PRETTY_NAME", ret, size);
	if (*ret)
		return;
	os_release_field(text, "NAME", name, sizeof(name));
	os_release_field(text, "VERSION", version, sizeof(version));
	if (*name && *version)
		snprintf(ret, size, "%s %s", name, version);
	else
		snprintf(ret, size, "%s", version);
}

/* Reads a version file; 0 with the text, -ENOENT when the image has none (or it is too large to
 * be one), another error when the file system fails while reading it. */
static int read_version_file(struct lb_squashfs *fs, const char *path, char **ret, struct lb_error *err)
{
	int r = lb_squashfs_read_file(fs, path, VERSION_FILE_MAX, ret, NULL, err);
	return r == -EFBIG ? -ENOENT : r;
}

static int find_version(struct lb_squashfs *fs, struct lb_image_check *c, struct lb_error *err)
{
	_cleanup_free_ char *text = NULL;
	int r = read_version_file(fs, LB_IMAGE_VERSION_FILE, &text, err);
	if (r == 0) {
		copy_printable(c->version, sizeof(c->version), text, strcspn(text, "\n"));
		if (c->version[0]) {
			snprintf(c->version_source, sizeof(c->version_source), "%s", LB_IMAGE_VERSION_FILE);
			return 0;
		}
	} else if (r != -ENOENT)
		return r;

	static const char *const os_release[] = {"/etc/os-release", "/usr/lib/os-release"};
	for (size_t i = 0; i < ELEMENTSOF(os_release); i++) {
		free(TAKE_PTR(text));
		r = read_version_file(fs, os_release[i], &text, err);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		lb_os_release_version(text, c->version, sizeof(c->version));
		if (c->version[0])
			snprintf(c->version_source, sizeof(c->version_source), "%s", os_release[i]);
		return 0;
	}
	return 0;
}

int lb_image_check(int fd, uint64_t size, const char *role, struct lb_image_check *ret, struct lb_error *err)
{
	uint8_t magic[4];
	*ret = (struct lb_image_check){0};
	snprintf(ret->role, sizeof(ret->role), "%s", role);
	if (size < sizeof(magic))
		return 0;
	int r = lb_pread_full(fd, magic, sizeof(magic), 0);
	if (r < 0)
		return lb_error_set(err, -r, LB_E_READBACK, "reading back the start of image '%s' failed: %s", role,
				    strerror(-r));
	if (!lb_squashfs_magic(magic, sizeof(magic)))
		return 0;
	snprintf(ret->type, sizeof(ret->type), "squashfs");

	struct lb_error inner = {0};
	struct lb_squashfs_walk walk;
	_cleanup_(lb_squashfs_closep) struct lb_squashfs *fs = NULL;
	if ((r = lb_squashfs_open_fd(fd, size, &fs, &inner)) == 0 && (r = lb_squashfs_walk(fs, &walk, &inner)) == 0)
		r = find_version(fs, ret, &inner);
	if (r == -ENOTSUP)
		return lb_error_set(err, ENOTSUP, LB_E_FILESYSTEM_INVALID,
				    "image '%s' is a squashfs this recovery cannot check (%s): main is not made "
				    "bootable with a file system nobody looked at; build the image with zstd, xz or "
				    "gzip, and install again",
				    role, inner.message);
	if (r < 0) {
		if (inner.code != LB_E_FILESYSTEM_INVALID)
			return lb_error_set(err, -r, inner.code, "checking the file system of image '%s': %s", role,
					    inner.message);
		return lb_error_set(err, -r, LB_E_FILESYSTEM_INVALID,
				    "image '%s' was written and read back exactly as signed, but it is not a valid "
				    "file system: %s. The bundle was built from a damaged image: build it again; main "
				    "is not bootable until an install succeeds",
				    role, inner.message);
	}
	ret->inodes = walk.inodes;
	ret->directories = walk.directories;
	return 0;
}

void lb_image_checks_json(const struct lb_image_check *checks, unsigned count, FILE *f)
{
	bool first = true;
	fputc('[', f);
	for (unsigned i = 0; i < count; i++) {
		const struct lb_image_check *c = &checks[i];
		if (!c->type[0])
			continue;
		fprintf(f, "%s{\"role\":", first ? "" : ",");
		lb_json_string(f, c->role);
		fprintf(f, ",\"type\":");
		lb_json_string(f, c->type);
		fprintf(f, ",\"inodes\":%" PRIu64 ",\"directories\":%" PRIu64 ",\"version\":", c->inodes, c->directories);
		lb_json_string(f, c->version);
		fprintf(f, ",\"version_source\":");
		lb_json_string(f, c->version_source);
		fputc('}', f);
		first = false;
	}
	fputc(']', f);
}

void lb_image_check_describe(const struct lb_image_check *c, char *ret, size_t size)
{
	if (!c->type[0])
		snprintf(ret, size, "%s", "");
	else if (c->version[0])
		snprintf(ret, size, "%s: %s checked (%" PRIu64 " inodes), system \"%s\" from %s", c->role, c->type, c->inodes,
			 c->version, c->version_source);
	else
		snprintf(ret, size, "%s: %s checked (%" PRIu64 " inodes), no version file in it", c->role, c->type,
			 c->inodes);
}
