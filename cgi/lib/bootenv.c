#include "bootenv.h"
#include "io.h"
#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char grub_header[] = "# GRUB Environment Block\n";

const char *lb_bootenv_get(const struct lb_bootenv *env, const char *key)
{
	for (unsigned i = 0; i < env->count; i++)
		if (!strcmp(env->keys[i], key))
			return env->values[i];
	return NULL;
}

int lb_bootenv_set(struct lb_bootenv *env, const char *key, const char *value)
{
	if (strlen(key) >= LB_BOOTENV_KEY_MAX || strlen(value) >= LB_BOOTENV_VALUE_MAX || strchr(key, '=') ||
	    strpbrk(value, "\n\\"))
		return -EINVAL;
	unsigned i = 0;
	while (i < env->count && strcmp(env->keys[i], key))
		i++;
	if (i == LB_BOOTENV_MAX)
		return -E2BIG;
	if (i == env->count)
		env->count++;
	snprintf(env->keys[i], sizeof(env->keys[i]), "%s", key);
	snprintf(env->values[i], sizeof(env->values[i]), "%s", value);
	return 0;
}

/* Adds "key=value" (value not terminated) to env; other keys than ours are kept as they are. */
static void add_pair(struct lb_bootenv *env, const char *pair, size_t len)
{
	const char *eq = memchr(pair, '=', len);
	if (!eq || eq == pair)
		return;
	char key[LB_BOOTENV_KEY_MAX], value[LB_BOOTENV_VALUE_MAX];
	size_t klen = (size_t)(eq - pair), vlen = len - klen - 1;
	if (klen >= sizeof(key) || vlen >= sizeof(value))
		return;
	memcpy(key, pair, klen);
	key[klen] = '\0';
	memcpy(value, eq + 1, vlen);
	value[vlen] = '\0';
	lb_bootenv_set(env, key, value);
}

int lb_grubenv_read(const char *path, struct lb_bootenv *ret, struct lb_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t size;
	int r = lb_read_file(path, LB_GRUBENV_SIZE, &text, &size);
	if (r < 0)
		return lb_error_set(err, -r, LB_E_BOOT_STATE, "cannot read the GRUB environment %s: %s", path, strerror(-r));
	if (size != LB_GRUBENV_SIZE || strncmp(text, grub_header, sizeof(grub_header) - 1) != 0)
		return lb_error_set(err, EBADMSG, LB_E_BOOT_STATE,
				    "%s is not a GRUB environment block (1024 bytes starting with \"%.24s\")", path,
				    grub_header);
	*ret = (struct lb_bootenv){0};
	char *line = text + sizeof(grub_header) - 1;
	/* Lines starting with '#' are comments (grub-editenv adds a warning line); the padding is
	 * '#' up to the end without a newline. */
	for (char *nl; (nl = strchr(line, '\n')); line = nl + 1)
		if (*line != '#')
			add_pair(ret, line, (size_t)(nl - line));
	return 0;
}

/* Opens an existing file for an in-place rewrite of exactly `size` bytes. */
static int open_in_place(const char *path, size_t size, struct lb_error *err)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return lb_error_set(err, e, LB_E_BOOT_STATE, "cannot open the boot environment %s: %s", path, strerror(e));
	}
	if ((size_t)st.st_size != size) {
		close(fd);
		return lb_error_set(err, EINVAL, LB_E_BOOT_STATE, "the boot environment %s is %lld bytes, not %zu", path,
				    (long long)st.st_size, size);
	}
	return fd;
}

static int write_in_place(const char *path, const void *data, size_t size, struct lb_error *err)
{
	_cleanup_close_ int fd = open_in_place(path, size, err);
	if (fd < 0)
		return fd;
	int r = lb_pwrite_full(fd, data, size, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		return lb_error_set(err, -r, LB_E_BOOT_STATE, "writing the boot environment %s failed: %s", path, strerror(-r));
	return 0;
}

int lb_grubenv_write(const char *path, const struct lb_bootenv *env, struct lb_error *err)
{
	char block[LB_GRUBENV_SIZE];
	memset(block, '#', sizeof(block));
	size_t n = sizeof(grub_header) - 1;
	memcpy(block, grub_header, n);
	for (unsigned i = 0; i < env->count; i++) {
		int len = snprintf(block + n, sizeof(block) - n, "%s=%s\n", env->keys[i], env->values[i]);
		if (len < 0 || n + (size_t)len >= 512)
			return lb_error_set(err, E2BIG, LB_E_INTERNAL,
					    "the GRUB environment would outgrow its first sector");
		n += (size_t)len;
	}
	block[n] = '#'; /* snprintf's terminator */
	return write_in_place(path, block, sizeof(block), err);
}

unsigned long lb_crc32(const void *data, size_t size)
{
	static unsigned long table[256];
	if (!table[1])
		for (unsigned long i = 0; i < 256; i++) {
			unsigned long c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320ul ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	unsigned long crc = 0xfffffffful;
	const unsigned char *p = data;
	for (size_t i = 0; i < size; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xfffffffful;
}

static void redundant_path(const char *path, char *ret, size_t size)
{
	snprintf(ret, size, "%s.redund", path);
}

static int read_one_copy(const char *path, size_t size, struct lb_bootenv *ret)
{
	_cleanup_free_ char *data = NULL;
	size_t got;
	int r = lb_read_file(path, size, &data, &got);
	if (r < 0)
		return r;
	if (got != size)
		return -EBADMSG;
	const unsigned char *u = (const unsigned char *)data;
	unsigned long stored = (unsigned long)u[0] | (unsigned long)u[1] << 8 | (unsigned long)u[2] << 16 |
			       (unsigned long)u[3] << 24;
	if (stored != lb_crc32(data + 4, size - 4))
		return -EBADMSG;
	*ret = (struct lb_bootenv){0};
	for (size_t i = 4; i < size && data[i];) {
		size_t len = strnlen(data + i, size - i);
		add_pair(ret, data + i, len);
		i += len + 1;
	}
	return 0;
}

int lb_ubootenv_read(const char *path, size_t size, struct lb_bootenv *ret, struct lb_error *err)
{
	char second[4096];
	redundant_path(path, second, sizeof(second));
	int r = read_one_copy(path, size, ret);
	if (r == 0)
		return 0;
	int r2 = read_one_copy(second, size, ret);
	if (r2 == 0)
		return 0;
	return lb_error_set(err, EBADMSG, LB_E_BOOT_STATE,
			    "neither copy of the boot environment (%s, %s) is intact (%s, %s): the device will "
			    "boot the recovery",
			    path, second, strerror(-r), strerror(-r2));
}

int lb_ubootenv_write(const char *path, size_t size, const struct lb_bootenv *env, struct lb_error *err)
{
	_cleanup_free_ unsigned char *data = calloc(1, size);
	if (!data)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	size_t n = 4;
	for (unsigned i = 0; i < env->count; i++) {
		int len = snprintf((char *)data + n, size - n, "%s=%s", env->keys[i], env->values[i]);
		if (len < 0 || n + (size_t)len + 2 > size)
			return lb_error_set(err, E2BIG, LB_E_INTERNAL, "the boot environment does not fit in %zu bytes",
					    size);
		n += (size_t)len + 1;
	}
	unsigned long crc = lb_crc32(data + 4, size - 4);
	for (int i = 0; i < 4; i++)
		data[i] = (unsigned char)(crc >> (8 * i));

	char second[4096];
	redundant_path(path, second, sizeof(second));
	int r = write_in_place(path, data, size, err);
	if (r < 0)
		return r;
	return write_in_place(second, data, size, err);
}
