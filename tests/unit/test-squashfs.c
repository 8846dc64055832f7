/* Squashfs images made by mksquashfs from a small tree: the reader (super block checks, the hash
 * of the file system's own bytes and of its padded file, the walk, files by path through
 * symbolic links), damage in each part refused with a reason, the image check's version (its
 * own file first, then os-release), and the installer, which refuses to make a damaged squashfs
 * bootable. */
#include "lib/create.h"
#include "lib/image-check.h"
#include "lib/install.h"
#include "lib/io.h"
#include "lib/squashfs-image.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", unit_dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* tree/: what a root file system has, with Debian's os-release link: the root, 6 directories,
 * os-release and its link, a 9000-byte program (3 blocks of 4 KiB), its hard link (the same
 * inode, a second entry) and a FIFO. 11 inodes, 12 read by a walk (one per entry, and the root). */
static int make_tree(const char *extra)
{
	return run("mkdir -p tree/etc tree/usr/lib tree/usr/bin tree/a/b && "
		   "printf 'NAME=\"Debian GNU/Linux\"\\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\\n' "
		   ">tree/usr/lib/os-release && ln -s ../usr/lib/os-release tree/etc/os-release && "
		   "head -c 9000 /dev/urandom >tree/usr/bin/program && ln tree/usr/bin/program tree/usr/bin/same && "
		   "mkfifo tree/a/fifo && %s",
		   extra ? extra : "true");
}

/* Packs tree/ into NAME with mksquashfs `options` (default: zstd, 4 KiB blocks). */
static int pack(const char *name, const char *options)
{
	return run("mksquashfs tree %s -noappend -quiet -no-progress -all-root %s >/dev/null", name,
		   options ? options : "-b 4096 -comp zstd");
}

static char *image;
static size_t image_size;

static int load(const char *name)
{
	free(image);
	image = NULL;
	return lb_read_file(unit_path(name), 64u << 20, &image, &image_size);
}

static uint64_t le64_at(const char *data, size_t offset)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | (uint8_t)data[offset + (size_t)i];
	return v;
}

static void put_le64(char *data, size_t offset, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		data[offset + (size_t)i] = (char)(v >> (8 * i));
}

/* Opens the in-memory image; the error for a refusal. */
static int open_image(struct lb_squashfs **fs, struct lb_error *e)
{
	*e = (struct lb_error){0};
	return lb_squashfs_open_memory(image, image_size, fs, e);
}

static void test_open(void)
{
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0 && load("fs") == 0);
	struct lb_squashfs *fs;
	struct lb_error e;
	CHECK(open_image(&fs, &e) == 0);
	const struct lb_squashfs_info *info = lb_squashfs_info(fs);
	CHECK(info->bytes_used == le64_at(image, 40));
	CHECK(info->bytes_used < image_size && image_size % 4096 == 0); /* mksquashfs pads */
	CHECK(info->block_size == 4096 && info->inode_count == 11); /* the hard link shares an inode */
	CHECK(strcmp(info->compression, "zstd") == 0);
	lb_squashfs_close(fs);

	/* the same through a descriptor */
	int fd = open(unit_path("fs"), O_RDONLY);
	CHECK(fd >= 0);
	e = (struct lb_error){0};
	int r = lb_squashfs_open_fd(fd, image_size, &fs, &e);
	if (r == 0)
		lb_squashfs_close(fs);
	close(fd);
	CHECK(r == 0);
}

static void test_hash(void)
{
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0 && load("fs") == 0);
	struct lb_squashfs *fs;
	struct lb_error e;
	struct lb_squashfs_digests d;
	uint8_t own[LB_SHA256_SIZE], file[LB_SHA256_SIZE];
	CHECK(open_image(&fs, &e) == 0);
	int r = lb_squashfs_hash(fs, &d, &e);
	uint64_t used = lb_squashfs_info(fs)->bytes_used;
	lb_squashfs_close(fs);
	CHECK(r == 0);
	lb_sha256(image, used, own);
	lb_sha256(image, image_size, file);
	CHECK(memcmp(d.own, own, sizeof(own)) == 0); /* exactly bytes_used bytes */
	CHECK(d.padded_length == image_size);
	CHECK(memcmp(d.padded, file, sizeof(file)) == 0); /* what sha256sum of the file says */

	/* without the padding (as on a partition cut to bytes_used) only the own hash is known */
	image_size = used;
	CHECK(open_image(&fs, &e) == 0);
	r = lb_squashfs_hash(fs, &d, &e);
	lb_squashfs_close(fs);
	CHECK(r == 0 && d.padded_length == 0 && memcmp(d.own, own, sizeof(own)) == 0);
}

static void test_walk(void)
{
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0 && load("fs") == 0);
	struct lb_squashfs *fs;
	struct lb_error e;
	struct lb_squashfs_walk w;
	CHECK(open_image(&fs, &e) == 0);
	int r = lb_squashfs_walk(fs, &w, &e);
	lb_squashfs_close(fs);
	CHECK(r == 0);
	CHECK(w.directories == 7 && w.files == 3 && w.symlinks == 1 && w.others == 1);
	CHECK(w.inodes == 12);

	/* the other layouts mksquashfs makes: uncompressed tables, no fragments, other compressors */
	static const char *const layouts[] = {"-noI -noD -noF -noX", "-no-fragments", "-always-use-fragments",
					      "-comp gzip", "-comp xz", "-comp lz4", "-b 1M -comp zstd -Xcompression-level 18"};
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		CHECK(pack("fs2", layouts[i]) == 0 && load("fs2") == 0);
		CHECK(open_image(&fs, &e) == 0);
		r = lb_squashfs_walk(fs, &w, &e);
		lb_squashfs_close(fs);
		CHECK(r == 0 && w.inodes == 12);
	}
}

static void test_read_file(void)
{
	CHECK(make_tree("ln -s /usr/lib/os-release tree/etc/absolute && ln -s loop1 tree/etc/loop2 && "
			"ln -s loop2 tree/etc/loop1 && ln -s ../../../../usr/./lib//os-release tree/a/b/up") == 0);
	CHECK(pack("fs", NULL) == 0 && load("fs") == 0);
	struct lb_squashfs *fs;
	struct lb_error e;
	char *text = NULL;
	size_t size = 0;
	CHECK(open_image(&fs, &e) == 0);
	/* through the relative link, the absolute one, and one that climbs above the root */
	bool ok = lb_squashfs_read_file(fs, "/etc/os-release", 4096, &text, &size, &e) == 0 && size > 20 &&
		  strstr(text, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"") && text[size] == '\0';
	free(text);
	text = NULL;
	ok = ok && lb_squashfs_read_file(fs, "/etc/absolute", 4096, &text, &size, &e) == 0;
	free(text);
	text = NULL;
	ok = ok && lb_squashfs_read_file(fs, "/a/b/up", 4096, &text, &size, &e) == 0;
	free(text);
	text = NULL;
	int missing = lb_squashfs_read_file(fs, "/etc/missing", 4096, &text, &size, &e);
	int directory = lb_squashfs_read_file(fs, "/usr/lib", 4096, &text, &size, &e);
	int through_file = lb_squashfs_read_file(fs, "/usr/bin/program/x", 4096, &text, &size, &e);
	int loop = lb_squashfs_read_file(fs, "/etc/loop1", 4096, &text, &size, &e);
	int too_big = lb_squashfs_read_file(fs, "/usr/bin/program", 8999, &text, &size, &e);
	int exact = lb_squashfs_read_file(fs, "/usr/bin/program", 9000, &text, &size, &e);
	free(text);
	lb_squashfs_close(fs);
	CHECK(ok);
	CHECK(missing == -ENOENT && directory == -ENOENT && through_file == -ENOENT && loop == -ENOENT);
	CHECK(too_big == -EFBIG);
	CHECK(exact == 0 && size == 9000);
	CHECK(!lb_error_failed(&e)); /* none of these is damage */
}

/* Opens the image after `patch` and expects a refusal as a damaged file system. */
static bool refused(const char *needle)
{
	struct lb_squashfs *fs = NULL;
	struct lb_error e;
	int r = open_image(&fs, &e);
	if (r == 0) {
		lb_squashfs_close(fs);
		return false;
	}
	if (e.code != LB_E_FILESYSTEM_INVALID || !strstr(e.message, needle)) {
		fprintf(stderr, "refusal: %s (%s)\n", e.message, lb_code_name(e.code));
		return false;
	}
	return true;
}

static void test_refuse_super_block(void)
{
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0);
	size_t full;
	CHECK(load("fs") == 0 && (full = image_size) > 0);
	image_size = 50;
	CHECK(refused("too few"));
	image_size = full;
	image[0] = 'x';
	CHECK(refused("no 'hsqs' magic"));
	CHECK(load("fs") == 0);
	image[28] = 3; /* version 3.0 */
	CHECK(refused("version 3.0"));
	CHECK(load("fs") == 0);
	image_size = (size_t)le64_at(image, 40) - 1; /* the partition ends before the file system */
	CHECK(refused("was cut short"));
	CHECK(load("fs") == 0);
	put_le64(image, 40, UINT64_MAX / 2);
	CHECK(refused("was cut short"));
	CHECK(load("fs") == 0);
	put_le64(image, 64, le64_at(image, 72) + 1); /* the inode table after the directory table */
	CHECK(refused("not in order"));
	CHECK(load("fs") == 0);
	put_le64(image, 80, le64_at(image, 40) + 100); /* the fragment table outside */
	CHECK(refused("fragment table"));
	CHECK(load("fs") == 0);
	image[12] = 1; /* block size 4097 */
	CHECK(refused("block size"));
}

/* Walks the in-memory image; true when refused as damaged with `needle` in the message. */
static bool walk_refused(const char *needle)
{
	struct lb_squashfs *fs = NULL;
	struct lb_error e;
	struct lb_squashfs_walk w;
	if (open_image(&fs, &e) < 0)
		return e.code == LB_E_FILESYSTEM_INVALID && strstr(e.message, needle);
	int r = lb_squashfs_walk(fs, &w, &e);
	lb_squashfs_close(fs);
	if (r == 0)
		return false;
	if (e.code != LB_E_FILESYSTEM_INVALID || !strstr(e.message, needle)) {
		fprintf(stderr, "walk: %s (%s)\n", e.message, lb_code_name(e.code));
		return false;
	}
	return true;
}

static void test_refuse_damaged_tables(void)
{
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0);
	/* compressed tables: a damaged block does not decompress */
	CHECK(load("fs") == 0);
	memset(image + le64_at(image, 64) + 2, 0x55, 16);
	CHECK(walk_refused("does not decompress"));
	CHECK(load("fs") == 0);
	memset(image + le64_at(image, 72) + 2, 0x55, 16);
	CHECK(walk_refused("the listing of /"));

	/* uncompressed tables: the fields themselves. Every inode number set to one that does not
	 * exist: the first entry read says so. */
	CHECK(pack("plain", "-noI -noD -noF -noX") == 0 && load("plain") == 0);
	uint64_t ref = le64_at(image, 32); /* the root inode: metadata block (after its 2-byte header), offset */
	char *root = image + le64_at(image, 64) + (ref >> 16) + 2 + (ref & 0xffff);
	CHECK(root + 16 < image + le64_at(image, 72));
	memcpy(root + 12, "\xff\xff\x00\x00", 4); /* its inode number: 65535 of 11 */
	CHECK(walk_refused("inode number 65535"));
}

static void test_os_release(void)
{
	char v[LB_IMAGE_VERSION_MAX];
	lb_os_release_version("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION=1\n", v, sizeof(v));
	CHECK(strcmp(v, "Debian GNU/Linux 12 (bookworm)") == 0);
	lb_os_release_version("NAME='Companion OS'\nVERSION=\"2.4 \\\"LTS\\\"\"\n", v, sizeof(v));
	CHECK(strcmp(v, "Companion OS 2.4 \"LTS\"") == 0);
	lb_os_release_version("# PRETTY_NAME=no\nVERSION=7\n", v, sizeof(v));
	CHECK(strcmp(v, "7") == 0);
	lb_os_release_version("ID=debian\n", v, sizeof(v));
	CHECK(strcmp(v, "") == 0);
	lb_os_release_version("PRETTY_NAME=\"bad\033[2J\xc3\xa9\"", v, sizeof(v));
	CHECK(strcmp(v, "bad?[2J??") == 0);
	char small[8];
	lb_os_release_version("PRETTY_NAME=\"a long name\"", small, sizeof(small));
	CHECK(strcmp(small, "a long ") == 0);
}

static int check_image(const char *name, struct lb_image_check *c, struct lb_error *e)
{
	int fd = open(unit_path(name), O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	*e = (struct lb_error){0};
	int r = lb_image_check(fd, (uint64_t)st.st_size, "rootfs", c, e);
	close(fd);
	return r;
}

static void test_image_check_version(void)
{
	struct lb_image_check c;
	struct lb_error e;
	CHECK(make_tree(NULL) == 0 && pack("os", NULL) == 0);
	CHECK(check_image("os", &c, &e) == 0);
	CHECK(strcmp(c.type, "squashfs") == 0 && c.inodes == 12 && c.directories == 7);
	CHECK(strcmp(c.version, "Debian GNU/Linux 12 (bookworm)") == 0);
	CHECK(strcmp(c.version_source, "/etc/os-release") == 0);
	char line[512];
	lb_image_check_describe(&c, line, sizeof(line));
	CHECK(strcmp(line, "rootfs: squashfs checked (12 inodes), system \"Debian GNU/Linux 12 (bookworm)\" "
			   "from /etc/os-release") == 0);

	/* the image's own file wins */
	CHECK(run("printf '  companion 2.4.1 \\nsecond line\\n' >tree/etc/lifeboat-version") == 0 && pack("own", NULL) == 0);
	CHECK(check_image("own", &c, &e) == 0);
	CHECK(strcmp(c.version, "companion 2.4.1") == 0 && strcmp(c.version_source, "/etc/lifeboat-version") == 0);

	/* only /usr/lib/os-release; then none at all, which is valid */
	CHECK(run("rm tree/etc/lifeboat-version tree/etc/os-release") == 0 && pack("usr", NULL) == 0);
	CHECK(check_image("usr", &c, &e) == 0);
	CHECK(strcmp(c.version_source, "/usr/lib/os-release") == 0);
	CHECK(run("rm tree/usr/lib/os-release") == 0 && pack("none", NULL) == 0);
	CHECK(check_image("none", &c, &e) == 0);
	CHECK(strcmp(c.type, "squashfs") == 0 && c.version[0] == '\0' && c.version_source[0] == '\0');
	lb_image_check_describe(&c, line, sizeof(line));
	CHECK(strstr(line, "no version file"));
}

static void test_image_check_other_images(void)
{
	struct lb_image_check c;
	struct lb_error e;
	/* ext4, random bytes, an image shorter than a magic: not looked into */
	CHECK(run("truncate -s 4M ext4 && mkfs.ext4 -q -F -O ^has_journal ext4 && head -c 100000 /dev/urandom >random && "
		  "printf 'hs' >short") == 0);
	CHECK(check_image("ext4", &c, &e) == 0 && c.type[0] == '\0');
	CHECK(check_image("random", &c, &e) == 0 && c.type[0] == '\0');
	CHECK(check_image("short", &c, &e) == 0 && c.type[0] == '\0');
	char line[64];
	lb_image_check_describe(&c, line, sizeof(line));
	CHECK(line[0] == '\0');

	/* a squashfs that is damaged, and one this build cannot read (lzo) */
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0 && load("fs") == 0);
	memset(image + le64_at(image, 72) + 2, 0x55, 16);
	CHECK(lb_write_file_atomic(unit_path("damaged"), image, image_size, 0644) == 0);
	CHECK(check_image("damaged", &c, &e) < 0);
	CHECK(e.code == LB_E_FILESYSTEM_INVALID && strstr(e.message, "image 'rootfs'") &&
	      strstr(e.message, "not a valid file system"));
	CHECK(pack("lzo", "-comp lzo") == 0);
	CHECK(check_image("lzo", &c, &e) < 0);
	CHECK(e.code == LB_E_FILESYSTEM_INVALID && strstr(e.message, "cannot check"));
}

/* ---- the installer ---- */

static char *bundle;
static size_t bundle_size;

struct memory_input {
	const char *data;
	size_t size, pos;
};

static ssize_t memory_read(void *ctx, void *buf, size_t size)
{
	struct memory_input *m = ctx;
	size_t n = size < m->size - m->pos ? size : m->size - m->pos;
	if (n > 5000)
		n = 5000;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

/* Makes an unsigned bundle of image file NAME and installs it onto "target" with GRUB boot
 * control in "grubenv". */
static int install_image(const char *name, struct lb_install_result *res, struct lb_error *e)
{
	struct lb_image_source src = {"rootfs", unit_path(name)};
	struct lb_create_options create = {.compatible = "unit", .version = "9", .min_recovery_version = "0",
					   .images = &src, .image_count = 1, .chunk_size = 65536, .level = 1,
					   .output = unit_path("bundle")};
	*e = (struct lb_error){0};
	if (lb_bundle_create(&create, e) < 0)
		return -1;
	free(bundle);
	bundle = NULL;
	if (lb_read_file(unit_path("bundle"), 64u << 20, &bundle, &bundle_size) < 0 ||
	    run("truncate -s 2M target && rm -f grubenv && grub-editenv grubenv create") != 0)
		return -1;
	struct lb_boot boot;
	if (lb_boot_open(&boot, "grub", unit_path("grubenv"), 3, e) < 0)
		return -1;
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	struct lb_install_options opt = {.allow_unsigned = true, .compatible = "unit", .targets = &spec,
					 .target_count = 1, .readback = true, .threads = 2, .boot = &boot,
					 .boot_slot = "main"};
	struct memory_input mi = {bundle, bundle_size, 0};
	struct lb_input in = {.read = memory_read, .ctx = &mi};
	return lb_install(&in, &opt, res, e);
}

static unsigned main_attempts(void)
{
	struct lb_boot boot;
	struct lb_boot_state s;
	struct lb_error e = {0};
	if (lb_boot_open(&boot, "grub", unit_path("grubenv"), 3, &e) < 0 || lb_boot_load(&boot, &s, &e) < 0)
		return 99;
	return lb_boot_attempts_left(&s, "main");
}

static void test_install(void)
{
	struct lb_install_result res;
	struct lb_error e;
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0);
	CHECK(install_image("fs", &res, &e) == 0);
	CHECK(res.image_count == 1 && strcmp(res.images[0].type, "squashfs") == 0);
	CHECK(strcmp(res.images[0].role, "rootfs") == 0 && res.images[0].inodes == 12);
	CHECK(strcmp(res.images[0].version, "Debian GNU/Linux 12 (bookworm)") == 0);
	CHECK(main_attempts() == 3);

	char *json = NULL;
	size_t json_size = 0;
	FILE *f = open_memstream(&json, &json_size);
	lb_image_checks_json(res.images, res.image_count, f);
	fclose(f);
	bool json_ok = strcmp(json, "[{\"role\":\"rootfs\",\"type\":\"squashfs\",\"inodes\":12,\"directories\":7,"
				    "\"version\":\"Debian GNU/Linux 12 (bookworm)\",\"version_source\":\"/etc/os-release\"}]") == 0;
	free(json);
	CHECK(json_ok);

	/* an ext4 image is written as before and not looked into */
	CHECK(run("truncate -s 1M ext4 && mkfs.ext4 -q -F -O ^has_journal ext4") == 0);
	CHECK(install_image("ext4", &res, &e) == 0);
	CHECK(res.image_count == 1 && res.images[0].type[0] == '\0' && main_attempts() == 3);
}

static void test_install_damaged(void)
{
	/* a squashfs damaged before it was bundled: every chunk matches its signed hash and reads
	 * back right, and still main must not become bootable */
	struct lb_install_result res;
	struct lb_error e;
	CHECK(make_tree(NULL) == 0 && pack("fs", NULL) == 0 && load("fs") == 0);
	memset(image + le64_at(image, 64) + 2, 0x55, 16);
	CHECK(lb_write_file_atomic(unit_path("damaged"), image, image_size, 0644) == 0);
	CHECK(install_image("damaged", &res, &e) < 0);
	CHECK(e.code == LB_E_FILESYSTEM_INVALID);
	CHECK(res.target_touched);
	CHECK(main_attempts() == 0); /* left out of the boot order before the first write, and not put back */
	char *written = NULL;
	size_t n = 0;
	CHECK(lb_read_file(unit_path("target"), 4u << 20, &written, &n) == 0);
	bool same = n >= image_size && memcmp(written, image, image_size) == 0;
	free(written);
	CHECK(same); /* the bytes were written and read back as signed */
}

int main(void)
{
	static const struct unit_test tests[] = {
	    {"/squashfs/open", test_open},
	    {"/squashfs/hash", test_hash},
	    {"/squashfs/walk", test_walk},
	    {"/squashfs/read-file", test_read_file},
	    {"/squashfs/refuse/super-block", test_refuse_super_block},
	    {"/squashfs/refuse/damaged-tables", test_refuse_damaged_tables},
	    {"/image-check/os-release", test_os_release},
	    {"/image-check/version", test_image_check_version},
	    {"/image-check/other-images", test_image_check_other_images},
	    {"/image-check/install", test_install},
	    {"/image-check/install-damaged", test_install_damaged},
	};
	int r = unit_main(tests, sizeof(tests) / sizeof(tests[0]));
	free(image);
	free(bundle);
	return r;
}
