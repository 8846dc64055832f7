/* The installer in-process: bundles made by lb_bundle_create, installed from inputs that hand
 * out the bytes in small random pieces, onto plain files in a temporary directory. */
#include "lib/create.h"
#include "lib/install.h"
#include "lib/io.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* An input over a memory buffer that returns at most `piece` bytes per read, varying. */
struct memory_input {
	const uint8_t *data;
	size_t size, pos;
	unsigned seed;
	size_t cut; /* stop here: a cut connection */
};

static ssize_t memory_read(void *ctx, void *buf, size_t size)
{
	struct memory_input *m = ctx;
	size_t end = m->cut ? m->cut : m->size;
	size_t left = end - m->pos;
	size_t n = (size_t)(rand_r(&m->seed) % 7000) + 1;
	if (n > size)
		n = size;
	if (n > left)
		n = left;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void write_pattern(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint8_t block[4096];
	for (size_t off = 0; off < size; off += sizeof(block)) {
		for (size_t i = 0; i < sizeof(block); i++)
			/* a zero region in the middle, so the bundle has zero chunks */
			block[i] = (off > size / 3 && off < size / 2) ? 0 : (uint8_t)((off / 4096) * 7 + i % 251);
		size_t n = size - off < sizeof(block) ? size - off : sizeof(block);
		(void)!write(fd, block, n);
	}
	close(fd);
}

static void make_target(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)!ftruncate(fd, (off_t)size);
	close(fd);
}

static char *bundle_data;
static size_t bundle_size;

/* A 3 MiB + 1234 byte image in 64 KiB chunks, signed with a fresh key. */
static int make_bundle(bool signed_)
{
	struct lb_error e = {0};
	if (signed_ && lb_key_generate(unit_path("k.pem"), unit_path("k.pub.pem"), &e) < 0)
		return -1;
	write_pattern(unit_path("image"), (3u << 20) + 1234);
	struct lb_image_source src = {"rootfs", unit_path("image")};
	struct lb_create_options opt = {
		.key_path = signed_ ? unit_path("k.pem") : NULL,
		.compatible = "unit",
		.version = "7",
		.min_recovery_version = "0",
		.images = &src,
		.image_count = 1,
		.chunk_size = 65536,
		.level = 1,
		.output = unit_path("bundle"),
	};
	if (lb_bundle_create(&opt, &e) < 0)
		return -1;
	free(bundle_data);
	return lb_read_file(unit_path("bundle"), 64u << 20, &bundle_data, &bundle_size);
}

struct progress_log {
	unsigned calls;
	enum lb_phase last;
	uint64_t last_written;
	bool went_backwards;
};

static void log_progress(const struct lb_progress *p, void *userdata)
{
	struct progress_log *log = userdata;
	if (p->phase < log->last || (p->phase == log->last && p->written < log->last_written))
		log->went_backwards = p->phase != LB_PHASE_FAILED;
	log->calls++;
	log->last = p->phase;
	log->last_written = p->written;
}

static int install(struct memory_input *mi, struct lb_install_options *opt, struct lb_install_result *res,
		   struct lb_error *e)
{
	struct lb_input in = {.read = memory_read, .ctx = mi};
	*e = (struct lb_error){0};
	return lb_install(&in, opt, res, e);
}

static bool target_matches_image(void)
{
	char *a, *b;
	size_t na, nb;
	if (lb_read_file(unit_path("image"), 64u << 20, &a, &na) < 0)
		return false;
	if (lb_read_file(unit_path("target"), 64u << 20, &b, &nb) < 0) {
		free(a);
		return false;
	}
	bool same = nb >= na && memcmp(a, b, na) == 0;
	free(a);
	free(b);
	return same;
}

static struct lb_keyring *keys(void)
{
	struct lb_keyring *k = NULL;
	struct lb_error e = {0};
	lb_keyring_load(unit_path("k.pub.pem"), &k, &e);
	return k;
}

static void test_install_pieces(void)
{
	CHECK(make_bundle(true) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_keyring *k = keys();
	CHECK(k != NULL);
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	struct progress_log log = {0};
	struct lb_install_options opt = {.keyring = k, .compatible = "unit", .targets = &spec, .target_count = 1,
					 .readback = true, .threads = 3, .progress = log_progress, .userdata = &log};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 1};
	struct lb_install_result res;
	struct lb_error e;
	int r = install(&mi, &opt, &res, &e);
	lb_keyring_free(k);
	CHECK(r == 0);
	CHECK(!lb_error_failed(&e));
	CHECK(strcmp(res.version, "7") == 0);
	CHECK(res.image_bytes == (3u << 20) + 1234);
	CHECK(log.last == LB_PHASE_DONE);
	CHECK(log.last_written == res.image_bytes);
	CHECK(!log.went_backwards);
	CHECK(target_matches_image());
}

/* A card that does not keep what it was given, between the write and the read-back: when the
 * read-back starts, `from`'s bytes (or, with from == to, one flipped byte) land at chunk `to`. */
struct card_fault {
	uint32_t from, to;
	bool done;
};

static void damage_at_readback(const struct lb_progress *p, void *userdata)
{
	struct card_fault *f = userdata;
	if (p->phase != LB_PHASE_READBACK || f->done)
		return;
	f->done = true;
	int fd = open(unit_path("target"), O_RDWR);
	uint8_t chunk[65536];
	if (pread(fd, chunk, sizeof(chunk), (off_t)f->from * sizeof(chunk)) == (ssize_t)sizeof(chunk)) {
		if (f->from == f->to)
			chunk[12345] ^= 0x01;
		(void)!pwrite(fd, chunk, sizeof(chunk), (off_t)f->to * sizeof(chunk));
	}
	close(fd);
}

static void check_readback_catches(struct card_fault fault, const char *chunk_name)
{
	CHECK(make_bundle(true) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_keyring *k = keys();
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	struct lb_install_options opt = {.keyring = k, .compatible = "unit", .targets = &spec, .target_count = 1,
					 .readback = true, .threads = 2, .progress = damage_at_readback,
					 .userdata = &fault};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 7};
	struct lb_install_result res;
	struct lb_error e;
	int r = install(&mi, &opt, &res, &e);
	lb_keyring_free(k);
	CHECK(fault.done);
	CHECK(r < 0);
	CHECK(e.code == LB_E_READBACK);
	bool named = strstr(e.message, chunk_name) != NULL;
	if (!named)
		fprintf(stderr, "message: %s\n", e.message);
	CHECK(named);
}

/* A fake-capacity card that wraps: a later chunk's real data where an earlier one was. */
static void test_readback_wrong_chunk(void)
{
	check_readback_catches((struct card_fault){.from = 40, .to = 10}, "chunk 11 of 49");
}

/* One bit that the card flipped. */
static void test_readback_flipped_bit(void)
{
	check_readback_catches((struct card_fault){.from = 30, .to = 30}, "chunk 31 of 49");
}

static void test_cut_everywhere(void)
{
	/* Cutting the stream at many points: every cut is reported as truncated (or, inside the
	 * magic, as not a bundle), and never as success. */
	CHECK(make_bundle(true) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_keyring *k = keys();
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	struct lb_install_options opt = {.keyring = k, .compatible = "unit", .targets = &spec, .target_count = 1,
					 .threads = 2};
	size_t cuts[] = {1, 7, 8, 19, 20, 100, bundle_size / 3, bundle_size / 2, bundle_size - 1};
	bool all_ok = true;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 2, .cut = cuts[i]};
		struct lb_install_result res;
		struct lb_error e;
		int r = install(&mi, &opt, &res, &e);
		enum lb_code want = cuts[i] < 8 ? LB_E_NOT_A_BUNDLE : LB_E_TRUNCATED;
		if (r >= 0 || e.code != want) {
			fprintf(stderr, "cut at %zu: r=%d code=%s\n", cuts[i], r, lb_code_name(e.code));
			all_ok = false;
		}
	}
	lb_keyring_free(k);
	CHECK(all_ok);
}

static void test_unsigned(void)
{
	CHECK(make_bundle(false) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	struct lb_install_options opt = {.compatible = "unit", .targets = &spec, .target_count = 1};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 3};
	struct lb_install_result res;
	struct lb_error e;
	CHECK(install(&mi, &opt, &res, &e) < 0);
	CHECK(e.code == LB_E_UNSIGNED);
	CHECK(!res.target_touched);
	opt.allow_unsigned = true;
	mi.pos = 0;
	CHECK(install(&mi, &opt, &res, &e) == 0);
	CHECK(target_matches_image());
}

static int refuse_writing(const struct lb_manifest *m, void *userdata, struct lb_error *err)
{
	(void)m;
	(*(unsigned *)userdata)++;
	return lb_error_set(err, EPERM, LB_E_INTERNAL, "boot state could not be changed");
}

static void test_before_write_refuses(void)
{
	CHECK(make_bundle(true) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_keyring *k = keys();
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	unsigned calls = 0;
	struct lb_install_options opt = {.keyring = k, .compatible = "unit", .targets = &spec, .target_count = 1,
					 .before_write = refuse_writing, .userdata = &calls};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 4};
	struct lb_install_result res;
	struct lb_error e;
	int r = install(&mi, &opt, &res, &e);
	lb_keyring_free(k);
	CHECK(r < 0);
	CHECK(calls == 1);
	CHECK(!res.target_touched);
	CHECK(strstr(e.message, "boot state") != NULL);
	struct stat st;
	CHECK(stat(unit_path("target"), &st) == 0 && st.st_blocks == 0); /* still all holes */
}

static void test_cancel(void)
{
	CHECK(make_bundle(true) == 0);
	make_target(unit_path("target"), 4u << 20);
	struct lb_keyring *k = keys();
	struct lb_target_spec spec = {"rootfs", unit_path("target")};
	atomic_bool cancel = true;
	struct lb_install_options opt = {.keyring = k, .compatible = "unit", .targets = &spec, .target_count = 1,
					 .cancel = &cancel};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 5};
	struct lb_install_result res;
	struct lb_error e;
	int r = install(&mi, &opt, &res, &e);
	lb_keyring_free(k);
	CHECK(r < 0);
	CHECK(e.code == LB_E_CANCELLED);
	CHECK(res.target_touched);
}

static void test_dry_run(void)
{
	CHECK(make_bundle(true) == 0);
	struct lb_keyring *k = keys();
	struct lb_install_options opt = {.keyring = k, .dry_run = true};
	struct memory_input mi = {.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 6};
	struct lb_install_result res;
	struct lb_error e;
	int r = install(&mi, &opt, &res, &e);
	CHECK(r == 0);
	/* One changed byte in the last chunk's payload: caught by the chunk hash. */
	bundle_data[bundle_size - 10] ^= 0x40;
	mi = (struct memory_input){.data = (uint8_t *)bundle_data, .size = bundle_size, .seed = 6};
	r = install(&mi, &opt, &res, &e);
	lb_keyring_free(k);
	CHECK(r < 0);
	CHECK(e.code == LB_E_CHUNK_CORRUPT);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/install/pieces/readback", test_install_pieces},
		{"/install/readback/wrong-chunk", test_readback_wrong_chunk},
		{"/install/readback/flipped-bit", test_readback_flipped_bit},
		{"/install/truncated/everywhere", test_cut_everywhere},
		{"/install/unsigned", test_unsigned},
		{"/install/before-write/refuses", test_before_write_refuses},
		{"/install/cancel", test_cancel},
		{"/install/dry-run", test_dry_run},
	};
	int r = unit_main(tests, sizeof(tests) / sizeof(tests[0]));
	free(bundle_data);
	return r;
}
