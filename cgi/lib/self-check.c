#include "self-check.h"
#include "cmdline.h"
#include "io.h"
#include "json.h"
#include "macro.h"
#include "squashfs-image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

static const char *const result_names[_LB_SELF_CHECK_MAX] = {
    [LB_SELF_CHECK_NOT_RUN] = "not-run", [LB_SELF_CHECK_OK] = "ok",		 [LB_SELF_CHECK_MISMATCH] = "mismatch",
    [LB_SELF_CHECK_UNKNOWN] = "unknown", [LB_SELF_CHECK_UNREADABLE] = "unreadable",
};

const char *lb_self_check_result_name(enum lb_self_check_result result)
{
	return result < _LB_SELF_CHECK_MAX ? result_names[result] : "not-run";
}

static enum lb_self_check_result result_from_name(const char *name)
{
	for (int r = 0; r < _LB_SELF_CHECK_MAX; r++)
		if (!strcmp(name, result_names[r]))
			return (enum lb_self_check_result)r;
	return LB_SELF_CHECK_NOT_RUN;
}

bool lb_mountinfo_root(const char *mountinfo, unsigned *ret_major, unsigned *ret_minor, char *ret_source,
		       size_t size)
{
	bool found = false;
	for (const char *line = mountinfo; *line;) {
		size_t n = strcspn(line, "\n");
		char copy[4096], mount_point[4096];
		unsigned major, minor;
		snprintf(copy, sizeof(copy), "%.*s", (int)n, line);
		line += n + (line[n] == '\n');
		/* ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS [FIELDS...] - TYPE SOURCE OPTIONS */
		if (sscanf(copy, "%*u %*u %u:%u %*s %4095s", &major, &minor, mount_point) != 3 ||
		    strcmp(mount_point, "/") != 0)
			continue;
		const char *dash = strstr(copy, " - ");
		char source[256] = "";
		if (dash)
			sscanf(dash + 3, "%*s %255s", source);
		*ret_major = major;
		*ret_minor = minor;
		snprintf(ret_source, size, "%s", source);
		found = true;
	}
	return found;
}

bool lb_cmdline_root_device(const char *cmdline, char *ret, size_t size)
{
	char root[256];
	if (!lb_cmdline_value(cmdline, "root", root, sizeof(root)) || !root[0])
		return false;
	if (!strncmp(root, "PARTLABEL=", 10))
		snprintf(ret, size, "/dev/disk/by-partlabel/%s", root + 10);
	else if (!strncmp(root, "PARTUUID=", 9)) {
		/* udev's links are in lower case */
		for (char *c = root + 9; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		snprintf(ret, size, "/dev/disk/by-partuuid/%s", root + 9);
	} else
		snprintf(ret, size, "%s", root);
	return true;
}

static bool is_block_device(const char *path, dev_t number)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == number;
}

/* The node of a block device number: sysfs knows its name; the mount source is the fallback. */
static bool device_node(unsigned major, unsigned minor, const char *source, char *ret, size_t size)
{
	char path[128];
	_cleanup_free_ char *uevent = NULL;
	char name[200];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major, minor);
	if (lb_read_file(path, 4096, &uevent, NULL) == 0 && lb_cmdline_value(uevent, "DEVNAME", name, sizeof(name))) {
		snprintf(ret, size, "/dev/%s", name);
		if (is_block_device(ret, makedev(major, minor)))
			return true;
	}
	snprintf(ret, size, "%s", source);
	return is_block_device(ret, makedev(major, minor));
}

static bool find_device(const struct lb_self_check_options *opt, const char *cmdline, char *ret, size_t size)
{
	if (opt->device) {
		snprintf(ret, size, "%s", opt->device);
		return true;
	}
	_cleanup_free_ char *mountinfo = NULL;
	unsigned major, minor;
	char source[256];
	if (lb_read_file(opt->mountinfo_path ? opt->mountinfo_path : LB_MOUNTINFO_PATH, 1 << 20, &mountinfo, NULL) == 0 &&
	    lb_mountinfo_root(mountinfo, &major, &minor, source, sizeof(source)) && major != 0 &&
	    device_node(major, minor, source, ret, size))
		return true;
	return cmdline && lb_cmdline_root_device(cmdline, ret, size);
}

/* lifeboat.sha256=, in lower case; false (with a message) when it is not a SHA-256. */
static bool parse_expected(const char *value, char *ret, size_t size, char *message, size_t message_size)
{
	char lower[LB_SHA256_HEX_SIZE + 1];
	uint8_t digest[LB_SHA256_SIZE];
	size_t n = strlen(value);
	for (size_t i = 0; i < n && i < LB_SHA256_HEX_SIZE; i++)
		lower[i] = (char)tolower((unsigned char)value[i]);
	lower[n < LB_SHA256_HEX_SIZE ? n : LB_SHA256_HEX_SIZE] = '\0';
	if (n != LB_SHA256_HEX_SIZE || !lb_hex_decode(lower, n, digest, sizeof(digest))) {
		snprintf(message, message_size, "the recorded SHA-256 (lifeboat.sha256=%.80s) is not 64 hex digits",
			 value);
		return false;
	}
	snprintf(ret, size, "%s", lower);
	return true;
}

static uint64_t capacity_of(int fd)
{
	struct stat st;
	uint64_t bytes = 0;
	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &bytes) == 0 ? bytes : 0;
	return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static double monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lb_squashfs_closep(struct lb_squashfs **fs)
{
	lb_squashfs_close(*fs);
}

/* Hashes the device and compares; fills everything but the time. */
static void check_device(struct lb_self_check *c, bool have_expected)
{
	struct lb_error err = {0};
	struct lb_squashfs_digests digests;
	_cleanup_close_ int fd = open(c->device, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		c->result = LB_SELF_CHECK_UNREADABLE;
		snprintf(c->message, sizeof(c->message), "cannot open %s: %s", c->device, strerror(errno));
		return;
	}
	_cleanup_(lb_squashfs_closep) struct lb_squashfs *fs = NULL;
	if (lb_squashfs_open_fd(fd, capacity_of(fd), &fs, &err) < 0 || lb_squashfs_hash(fs, &digests, &err) < 0) {
		c->result = LB_SELF_CHECK_UNREADABLE;
		snprintf(c->message, sizeof(c->message), "%.200s: %.300s", c->device, err.message);
		return;
	}
	char own[LB_SHA256_HEX_SIZE + 1], padded[LB_SHA256_HEX_SIZE + 1];
	lb_hex_encode(digests.own, LB_SHA256_SIZE, own);
	lb_hex_encode(digests.padded, LB_SHA256_SIZE, padded);
	c->bytes_used = lb_squashfs_info(fs)->bytes_used;
	c->hashed_bytes = c->bytes_used;
	snprintf(c->sha256, sizeof(c->sha256), "%s", own);
	if (!have_expected) {
		c->result = LB_SELF_CHECK_UNKNOWN;
		return;
	}
	if (!strcmp(c->expected, own))
		c->result = LB_SELF_CHECK_OK;
	else if (digests.padded_length && !strcmp(c->expected, padded)) {
		c->result = LB_SELF_CHECK_OK;
		c->hashed_bytes = digests.padded_length;
		snprintf(c->sha256, sizeof(c->sha256), "%s", padded);
	} else
		c->result = LB_SELF_CHECK_MISMATCH;
	if (c->result == LB_SELF_CHECK_OK)
		snprintf(c->message, sizeof(c->message), "the recovery image on %s is the one built (%" PRIu64 " bytes)",
			 c->device, c->hashed_bytes);
	else
		snprintf(c->message, sizeof(c->message),
			 "recovery image damaged: reflash the card. The SHA-256 of %s is %s, the one recorded "
			 "at build time %s",
			 c->device, own, c->expected);
}

void lb_self_check_run(const struct lb_self_check_options *opt, struct lb_self_check *ret)
{
	double t0 = monotonic_seconds();
	*ret = (struct lb_self_check){.time = (int64_t)time(NULL)};
	_cleanup_free_ char *cmdline = lb_cmdline_read(opt->cmdline_path);

	char value[256] = "", why_unknown[sizeof(ret->message)] = "";
	bool have_expected = false;
	if (opt->expected)
		have_expected = parse_expected(opt->expected, ret->expected, sizeof(ret->expected), why_unknown,
					       sizeof(why_unknown));
	else if (cmdline && lb_cmdline_value(cmdline, "lifeboat.sha256", value, sizeof(value)))
		have_expected = parse_expected(value, ret->expected, sizeof(ret->expected), why_unknown,
					       sizeof(why_unknown));
	else
		snprintf(why_unknown, sizeof(why_unknown),
			 "no recorded SHA-256 to compare with (no lifeboat.sha256= on the kernel command line)");

	if (!find_device(opt, cmdline, ret->device, sizeof(ret->device))) {
		ret->result = LB_SELF_CHECK_UNREADABLE;
		snprintf(ret->message, sizeof(ret->message),
			 "cannot tell which device holds the recovery: no block device is mounted at / and the "
			 "kernel command line has no root=");
	} else
		check_device(ret, have_expected);
	if (ret->result == LB_SELF_CHECK_UNKNOWN)
		snprintf(ret->message, sizeof(ret->message), "%s", why_unknown);
	ret->seconds = monotonic_seconds() - t0;
}

int lb_self_check_save(const char *state_dir, const struct lb_self_check *c)
{
	char path[4096], text[2048];
	snprintf(path, sizeof(path), "%s/%s", state_dir, LB_SELF_CHECK_FILE);
	char message[sizeof(c->message)];
	snprintf(message, sizeof(message), "%s", c->message);
	for (char *p = message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	int n = snprintf(text, sizeof(text),
			 "check=%s\ndevice=%s\nsha256=%s\nexpected=%s\nbytes_used=%" PRIu64 "\nhashed_bytes=%" PRIu64
			 "\nseconds=%.3f\ntime=%" PRId64 "\nmessage=%s\n",
			 lb_self_check_result_name(c->result), c->device, c->sha256, c->expected, c->bytes_used,
			 c->hashed_bytes, c->seconds, c->time, message);
	return lb_write_file_atomic(path, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1, 0644);
}

int lb_self_check_load(const char *state_dir, struct lb_self_check *ret)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	*ret = (struct lb_self_check){.result = LB_SELF_CHECK_NOT_RUN};
	snprintf(path, sizeof(path), "%s/%s", state_dir, LB_SELF_CHECK_FILE);
	int r = lb_read_file(path, 16 << 10, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *cursor = text, *line, *v;
	while (lb_next_key_value(&cursor, &line, &v)) {
		if (!strcmp(line, "check"))
			ret->result = result_from_name(v);
		else if (!strcmp(line, "device"))
			snprintf(ret->device, sizeof(ret->device), "%s", v);
		else if (!strcmp(line, "sha256"))
			snprintf(ret->sha256, sizeof(ret->sha256), "%s", v);
		else if (!strcmp(line, "expected"))
			snprintf(ret->expected, sizeof(ret->expected), "%s", v);
		else if (!strcmp(line, "bytes_used"))
			ret->bytes_used = strtoull(v, NULL, 10);
		else if (!strcmp(line, "hashed_bytes"))
			ret->hashed_bytes = strtoull(v, NULL, 10);
		else if (!strcmp(line, "seconds"))
			ret->seconds = strtod(v, NULL);
		else if (!strcmp(line, "time"))
			ret->time = strtoll(v, NULL, 10);
		else if (!strcmp(line, "message"))
			snprintf(ret->message, sizeof(ret->message), "%s", v);
	}
	return 0;
}

void lb_self_check_json(const struct lb_self_check *c, FILE *f)
{
	fprintf(f, "{\"check\":\"%s\",\"device\":", lb_self_check_result_name(c->result));
	lb_json_string(f, c->device);
	fprintf(f, ",\"sha256\":");
	lb_json_string(f, c->sha256);
	fprintf(f, ",\"expected\":");
	lb_json_string(f, c->expected);
	fprintf(f, ",\"bytes_used\":%" PRIu64 ",\"hashed_bytes\":%" PRIu64 ",\"seconds\":%.3f,\"time\":%" PRId64 ",\"message\":",
		c->bytes_used, c->hashed_bytes, c->seconds, c->time);
	lb_json_string(f, c->message);
	fputc('}', f);
}
