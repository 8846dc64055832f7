#include "target.h"
#include "io.h"
#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Is block device `dev` (or a partition of it) mounted? /proc/self/mountinfo's third field is
 * the major:minor of what each mount lives on. */
static bool device_mounted(dev_t dev, char *ret_where, size_t where_size)
{
	_cleanup_free_ char *text = NULL;
	if (lb_read_file("/proc/self/mountinfo", 4 << 20, &text, NULL) < 0)
		return false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned maj, min;
		char mnt[1024];
		if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min, mnt) != 3)
			continue;
		if (makedev(maj, min) == dev) {
			snprintf(ret_where, where_size, "%s", mnt);
			return true;
		}
	}
	return false;
}

/* The whole disk a partition belongs to, from sysfs: /sys/dev/block/M:m/partition exists for
 * partitions, and the parent directory of the partition's node is the disk. */
static dev_t whole_disk_of(dev_t dev)
{
	char path[128], real[4096], devfile[4200];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(dev), minor(dev));
	if (access(path, F_OK) < 0)
		return dev;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if (!realpath(path, real))
		return dev;
	char *slash = strrchr(real, '/');
	if (!slash)
		return dev;
	*slash = '\0';
	snprintf(devfile, sizeof(devfile), "%s/dev", real);
	_cleanup_free_ char *text = NULL;
	unsigned maj, min;
	if (lb_read_file(devfile, 64, &text, NULL) < 0 || sscanf(text, "%u:%u", &maj, &min) != 2)
		return dev;
	return makedev(maj, min);
}

static int check_block_device(const char *path, dev_t rdev, struct lb_error *err)
{
	struct stat root;
	if (stat("/", &root) == 0 && major(root.st_dev) != 0 &&
	    (rdev == root.st_dev || rdev == whole_disk_of(root.st_dev)))
		return lb_error_set(err, EBUSY, LB_E_TARGET_IS_ROOT,
				    "%s holds the running system's root file system: it cannot be overwritten "
				    "from here. Check the target in the configuration",
				    path);
	char where[1024];
	if (device_mounted(rdev, where, sizeof(where)))
		return lb_error_set(err, EBUSY, LB_E_TARGET_BUSY,
				    "%s is mounted on %s: unmount it before installing onto it", path, where);
	return 0;
}

static int stat_target(const char *path, struct stat *st, struct lb_error *err)
{
	if (stat(path, st) < 0)
		return lb_error_set(err, errno, LB_E_TARGET_INVALID, "target %s: %s: check the configured target",
				    path, strerror(errno));
	if (!S_ISBLK(st->st_mode) && !S_ISREG(st->st_mode))
		return lb_error_set(err, EINVAL, LB_E_TARGET_INVALID,
				    "target %s is neither a block device nor a regular file", path);
	if (S_ISBLK(st->st_mode))
		return check_block_device(path, st->st_rdev, err);
	return 0;
}

static int open_error(const char *path, int e, struct lb_error *err)
{
	if (e == EROFS || e == EACCES || e == EPERM)
		return lb_error_set(err, e, LB_E_TARGET_READONLY,
				    "target %s refuses writes (%s): is the card's write-protect switch on, or the "
				    "device read-only?",
				    path, strerror(e));
	if (e == EBUSY)
		return lb_error_set(err, e, LB_E_TARGET_BUSY,
				    "target %s is in use (mounted or opened exclusively by another program): "
				    "stop whatever uses it and try again",
				    path);
	return lb_error_set(err, e, LB_E_TARGET_INVALID, "cannot open target %s: %s", path, strerror(e));
}

static int capacity_of(int fd, const struct stat *st, uint64_t *ret)
{
	if (S_ISREG(st->st_mode)) {
		*ret = (uint64_t)st->st_size;
		return 0;
	}
	return ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
}

int lb_target_check(const char *path, uint64_t need, struct lb_error *err)
{
	struct stat st;
	int r = stat_target(path, &st, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t cap;
	if (fd < 0)
		return open_error(path, errno, err);
	if ((r = capacity_of(fd, &st, &cap)) < 0)
		return lb_error_set(err, -r, LB_E_TARGET_INVALID, "cannot get the size of %s", path);
	int ro = 0;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKROGET, &ro) == 0 && ro)
		return open_error(path, EROFS, err);
	if (need > cap)
		return lb_error_set(err, ENOSPC, LB_E_IMAGE_TOO_LARGE,
				    "the image needs %llu bytes but %s holds only %llu: the bundle is for a larger "
				    "partition; repartition the card or build a smaller image",
				    (unsigned long long)need, path, (unsigned long long)cap);
	return 0;
}

int lb_target_open(struct lb_target *t, const char *path, struct lb_error *err)
{
	struct stat st;
	int r = stat_target(path, &st, err);
	if (r < 0)
		return r;

	*t = (struct lb_target){.fd = -1, .fd_buffered = -1, .is_block = S_ISBLK(st.st_mode)};
	snprintf(t->path, sizeof(t->path), "%s", path);
	/* O_EXCL on a block device is the kernel's own "not mounted, not claimed" check, and holds
	 * the claim until close: nothing can mount the target halfway through the install. */
	int flags = O_RDWR | O_CLOEXEC | (t->is_block ? O_EXCL : 0);
	t->fd_buffered = open(path, flags);
	if (t->fd_buffered < 0)
		return open_error(path, errno, err);
	int ro = 0;
	if (t->is_block && ioctl(t->fd_buffered, BLKROGET, &ro) == 0 && ro) {
		lb_target_close(t);
		return open_error(path, EROFS, err);
	}
	if ((r = capacity_of(t->fd_buffered, &st, &t->capacity)) < 0) {
		lb_target_close(t);
		return lb_error_set(err, -r, LB_E_TARGET_INVALID, "cannot get the size of %s", path);
	}

	/* Direct I/O keeps the page cache (and so memory) out of the way of a multi-GiB write and
	 * makes read-back see the medium. Some file systems (tmpfs) do not support it: fall back. */
	t->fd = open(path, (flags & ~O_EXCL) | O_DIRECT);
	if (t->fd >= 0) {
		int lbs = 512;
		if (t->is_block)
			ioctl(t->fd, BLKSSZGET, &lbs);
		t->direct_align = lbs > 4096 ? (unsigned)lbs : 4096;
	} else {
		t->fd = dup(t->fd_buffered);
		t->direct_align = 0;
		if (t->fd < 0) {
			lb_target_close(t);
			return lb_error_set(err, errno, LB_E_INTERNAL, "dup: %s", strerror(errno));
		}
	}
	return 0;
}

static bool aligned(const struct lb_target *t, size_t size, uint64_t offset)
{
	return t->direct_align && size % t->direct_align == 0 && offset % t->direct_align == 0;
}

int lb_target_write(struct lb_target *t, const void *buf, size_t size, uint64_t offset)
{
	return lb_pwrite_full(aligned(t, size, offset) ? t->fd : t->fd_buffered, buf, size, offset);
}

int lb_target_zero(struct lb_target *t, const void *zeros, size_t size, uint64_t offset)
{
	if (t->is_block) {
		uint64_t range[2] = {offset, size};
		if (size % 512 == 0 && ioctl(t->fd_buffered, BLKZEROOUT, range) == 0)
			return 0;
	} else if (fallocate(t->fd_buffered, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			     (off_t)size) == 0)
		return 0;
	return lb_target_write(t, zeros, size, offset);
}

int lb_target_sync(struct lb_target *t)
{
	if (fsync(t->fd_buffered) < 0)
		return -errno;
	/* Clean pages are dropped so that the read-back cannot be answered from memory. */
	posix_fadvise(t->fd_buffered, 0, 0, POSIX_FADV_DONTNEED);
	if (t->is_block)
		ioctl(t->fd_buffered, BLKFLSBUF, 0);
	return 0;
}

int lb_target_read(struct lb_target *t, void *buf, size_t size, uint64_t offset)
{
	if (!t->direct_align || offset % t->direct_align != 0)
		return lb_pread_full(t->fd_buffered, buf, size, offset);
	/* Direct reads must cover whole blocks; a short image tail is read rounded up, and at the
	 * end of a regular file the kernel returns fewer bytes, which is fine once `size` arrived. */
	size_t rounded = (size + t->direct_align - 1) / t->direct_align * t->direct_align;
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(t->fd, (char *)buf + done, rounded - done, (off_t)(offset + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

void lb_target_close(struct lb_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->fd_buffered >= 0)
		close(t->fd_buffered);
	t->fd = t->fd_buffered = -1;
}
