#include "create.h"
#include "bundle.h"
#include "chunk-index.h"
#include "hash.h"
#include "io.h"
#include "macro.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <zstd.h>

const char *lb_detect_fstype(int fd)
{
	uint8_t b[2048];
	if (lb_pread_full(fd, b, sizeof(b), 0) < 0)
		return "raw";
	if (memcmp(b, "hsqs", 4) == 0)
		return "squashfs";
	if (b[1080] == 0x53 && b[1081] == 0xef)
		return "ext4";
	if (b[510] == 0x55 && b[511] == 0xaa && (memcmp(b + 54, "FAT", 3) == 0 || memcmp(b + 82, "FAT32", 5) == 0))
		return "vfat";
	return "raw";
}

/* One chunk being made. Batches of these are filled in parallel and then appended in order. */
struct piece {
	uint8_t *data;
	uint8_t *compressed;
	size_t compressed_size; /* 0: all zero */
	int error;              /* negative errno */
};

struct batch {
	int fd;
	const struct lb_image *image;
	uint32_t first, count;
	struct piece *pieces;
	atomic_uint next;
	int level;
};

/* True when [offset, offset+length) is wholly a hole: no read needed. */
static bool is_hole(int fd, uint64_t offset, uint32_t length)
{
	off_t data = lseek(fd, (off_t)offset, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO; /* no data after offset at all */
	return (uint64_t)data >= offset + length;
}

static void *compress_worker(void *userdata)
{
	struct batch *b = userdata;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	for (;;) {
		unsigned k = atomic_fetch_add(&b->next, 1);
		if (k >= b->count)
			break;
		struct piece *pc = &b->pieces[k];
		uint32_t index = b->first + k;
		uint32_t length = lb_image_chunk_length(b->image, index);
		uint64_t offset = (uint64_t)index * b->image->chunk_size;
		pc->compressed_size = 0;
		pc->error = 0;
		if (is_hole(b->fd, offset, length)) {
			memset(pc->data, 0, length);
			continue;
		}
		if ((pc->error = lb_pread_full(b->fd, pc->data, length, offset)) < 0)
			continue;
		if (lb_is_zero(pc->data, length))
			continue;
		if (!cctx) {
			pc->error = -ENOMEM;
			continue;
		}
		size_t n = ZSTD_compressCCtx(cctx, pc->compressed, ZSTD_compressBound(length), pc->data, length,
					     b->level);
		if (ZSTD_isError(n))
			pc->error = -EIO;
		else
			pc->compressed_size = n;
	}
	ZSTD_freeCCtx(cctx);
	return NULL;
}

static uint64_t image_size(int fd, const struct stat *st)
{
	uint64_t size = 0;
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, &size) < 0 ? 0 : size;
	return (uint64_t)st->st_size;
}

/* Compresses one image into `payload_fd` (appending) and fills its manifest entry. */
static int add_image(const struct lb_create_options *opt, const struct lb_image_source *src,
		     struct lb_image *img, int payload_fd, unsigned threads, uint64_t *done, uint64_t total,
		     struct lb_error *err)
{
	_cleanup_close_ int fd = open(src->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return lb_error_set(err, errno, LB_E_IO, "cannot open image %s: %s", src->path, strerror(errno));

	snprintf(img->role, sizeof(img->role), "%s", src->role);
	snprintf(img->fstype, sizeof(img->fstype), "%s", lb_detect_fstype(fd));
	img->size = image_size(fd, &st);
	img->chunk_size = opt->chunk_size;
	if (img->size == 0)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "image %s is empty", src->path);
	uint64_t count = (img->size + img->chunk_size - 1) / img->chunk_size;
	if (count > LB_CHUNKS_MAX)
		return lb_error_set(err, EFBIG, LB_E_USAGE,
				    "image %s needs %llu chunks; a bundle holds at most %u: use a larger "
				    "--chunk-size",
				    src->path, (unsigned long long)count, LB_CHUNKS_MAX);
	img->chunk_count = (uint32_t)count;
	img->chunks = calloc(count, sizeof(*img->chunks));
	if (!img->chunks)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");

	struct lb_sha256_stream *whole = lb_sha256_stream_new();
	unsigned batch_size = threads * 4;
	struct piece *pieces = calloc(batch_size, sizeof(*pieces));
	pthread_t *tids = calloc(threads, sizeof(*tids));
	int r = whole && pieces && tids ? 0 : lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	for (unsigned k = 0; r == 0 && k < batch_size; k++) {
		pieces[k].data = malloc(img->chunk_size);
		pieces[k].compressed = malloc(ZSTD_compressBound(img->chunk_size));
		if (!pieces[k].data || !pieces[k].compressed)
			r = lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	}

	for (uint32_t first = 0; r == 0 && first < img->chunk_count; first += batch_size) {
		struct batch b = {.fd = fd, .image = img, .first = first, .pieces = pieces, .level = opt->level};
		b.count = img->chunk_count - first < batch_size ? img->chunk_count - first : batch_size;
		unsigned started = 0;
		for (; started < threads; started++)
			if (pthread_create(&tids[started], NULL, compress_worker, &b) != 0)
				break;
		if (started == 0)
			compress_worker(&b);
		for (unsigned t = 0; t < started; t++)
			pthread_join(tids[t], NULL);

		for (unsigned k = 0; r == 0 && k < b.count; k++) {
			struct piece *pc = &pieces[k];
			struct lb_chunk *c = &img->chunks[first + k];
			uint32_t length = lb_image_chunk_length(img, first + k);
			if (pc->error < 0) {
				r = lb_error_set(err, -pc->error, LB_E_IO, "reading or compressing %s failed: %s",
						 src->path, strerror(-pc->error));
				break;
			}
			lb_sha256_stream_update(whole, pc->data, length);
			c->compressed_size = (uint32_t)pc->compressed_size;
			if (pc->compressed_size == 0)
				continue;
			lb_sha256(pc->data, length, c->sha256);
			c->has_anchor = lb_chunk_anchor(pc->data, length, &c->anchor_offset, &c->anchor_key);
			if ((r = lb_write_full(payload_fd, pc->compressed, pc->compressed_size)) < 0)
				r = lb_error_set(err, -r, LB_E_IO, "writing the payload failed: %s", strerror(-r));
			img->payload_size += pc->compressed_size;
		}
		*done += (uint64_t)b.count * img->chunk_size;
		if (opt->progress)
			opt->progress(*done < total ? *done : total, total, opt->userdata);
	}
	if (r == 0)
		lb_sha256_stream_final(whole, img->sha256);

	for (unsigned k = 0; pieces && k < batch_size; k++) {
		free(pieces[k].data);
		free(pieces[k].compressed);
	}
	free(pieces);
	free(tids);
	lb_sha256_stream_free(whole);
	return r;
}

static int temp_file_beside(const char *path, char **ret_name)
{
	size_t n = strlen(path) + 16;
	char *name = malloc(n);
	if (!name)
		return -ENOMEM;
	snprintf(name, n, "%s.tmp.XXXXXX", path);
	int fd = mkostemp(name, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(name);
		return -e;
	}
	*ret_name = name;
	return fd;
}

static int copy_all(int from, int to, uint64_t size)
{
	if (lseek(from, 0, SEEK_SET) < 0)
		return -errno;
	while (size > 0) {
		ssize_t n = copy_file_range(from, NULL, to, NULL, size, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		size -= (uint64_t)n;
	}
	return 0;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static int check_options(const struct lb_create_options *opt, struct lb_error *err)
{
	if (!lb_token_valid(opt->compatible) || !lb_token_valid(opt->version) ||
	    !lb_token_valid(opt->min_recovery_version))
		return lb_error_set(err, EINVAL, LB_E_USAGE,
				    "compatible, version and minimum recovery version must be 1 to %d characters "
				    "of A-Z a-z 0-9 . _ + : ~ -",
				    LB_TOKEN_MAX);
	const char *d = opt->description ? opt->description : "";
	if (strlen(d) > LB_DESCRIPTION_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the description is longer than %d characters",
				    LB_DESCRIPTION_MAX);
	for (const char *c = d; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "the description must be printable ASCII");
	if (opt->chunk_size < LB_CHUNK_SIZE_MIN || opt->chunk_size > LB_CHUNK_SIZE_MAX ||
	    (opt->chunk_size & (opt->chunk_size - 1)))
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the chunk size must be a power of two from 64 KiB to 16 MiB");
	if (opt->image_count == 0 || opt->image_count > LB_IMAGES_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "a bundle holds 1 to %u images", LB_IMAGES_MAX);
	for (unsigned i = 0; i < opt->image_count; i++) {
		if (!lb_token_valid(opt->images[i].role))
			return lb_error_set(err, EINVAL, LB_E_USAGE, "image role '%s' is not a valid name",
					    opt->images[i].role);
		for (unsigned k = 0; k < i; k++)
			if (strcmp(opt->images[i].role, opt->images[k].role) == 0)
				return lb_error_set(err, EINVAL, LB_E_USAGE, "image role '%s' is given twice",
						    opt->images[i].role);
	}
	return 0;
}

int lb_bundle_create(const struct lb_create_options *opt, struct lb_error *err)
{
	struct lb_manifest m = {.format = opt->format ? opt->format : LB_FORMAT_VERSION, .build_time = opt->build_time};
	_cleanup_free_ char *payload_name = NULL, *out_name = NULL, *text = NULL;
	_cleanup_close_ int payload_fd = -1, out_fd = -1;
	size_t text_size = 0;
	uint64_t done = 0, total = 0;
	int r;

	if ((r = check_options(opt, err)) < 0)
		return r;
	snprintf(m.compatible, sizeof(m.compatible), "%s", opt->compatible);
	snprintf(m.version, sizeof(m.version), "%s", opt->version);
	snprintf(m.description, sizeof(m.description), "%s", opt->description ? opt->description : "");
	snprintf(m.min_recovery_version, sizeof(m.min_recovery_version), "%s", opt->min_recovery_version);

	for (unsigned i = 0; i < opt->image_count; i++) {
		struct stat st;
		if (stat(opt->images[i].path, &st) == 0)
			total += (uint64_t)st.st_size;
	}

	payload_fd = temp_file_beside(opt->output, &payload_name);
	if (payload_fd < 0) {
		r = lb_error_set(err, -payload_fd, LB_E_IO, "cannot create a file beside %s: %s", opt->output,
				 strerror(-payload_fd));
		goto out;
	}
	unlink(payload_name); /* it lives only as long as this descriptor */

	unsigned threads = opt->threads ? opt->threads : default_threads();
	for (unsigned i = 0; i < opt->image_count; i++) {
		r = add_image(opt, &opt->images[i], &m.images[i], payload_fd, threads, &done, total, err);
		m.image_count = i + 1;
		if (r < 0)
			goto out;
		m.payload_size += m.images[i].payload_size;
	}

	if ((r = lb_manifest_format(&m, &text, &text_size)) < 0) {
		r = lb_error_set(err, -r, LB_E_INTERNAL, "cannot format the manifest");
		goto out;
	}
	if (text_size > LB_MANIFEST_SIZE_MAX) {
		r = lb_error_set(err, EFBIG, LB_E_USAGE, "the manifest would be %zu bytes, over the cap of %u",
				 text_size, LB_MANIFEST_SIZE_MAX);
		goto out;
	}

	uint8_t signature[LB_SIGNATURE_BLOCK_SIZE];
	if (opt->key_path && (r = lb_sign(opt->key_path, text, text_size, signature, err)) < 0)
		goto out;
	uint8_t preamble[LB_BUNDLE_PREAMBLE_SIZE];
	lb_bundle_preamble(preamble, m.format, (uint32_t)text_size, opt->key_path != NULL);

	out_fd = temp_file_beside(opt->output, &out_name);
	if (out_fd < 0) {
		r = lb_error_set(err, -out_fd, LB_E_IO, "cannot create a file beside %s: %s", opt->output,
				 strerror(-out_fd));
		goto out;
	}
	if ((r = lb_write_full(out_fd, preamble, sizeof(preamble))) < 0 ||
	    (r = lb_write_full(out_fd, text, text_size)) < 0 ||
	    (opt->key_path && (r = lb_write_full(out_fd, signature, sizeof(signature))) < 0) ||
	    (r = copy_all(payload_fd, out_fd, m.payload_size)) < 0 || (fsync(out_fd) < 0 && (r = -errno)) ||
	    (fchmod(out_fd, 0644) < 0 && (r = -errno)) || (rename(out_name, opt->output) < 0 && (r = -errno))) {
		unlink(out_name);
		r = lb_error_set(err, -r, LB_E_IO, "writing %s failed: %s", opt->output, strerror(-r));
		goto out;
	}
out:
	lb_manifest_free(&m);
	return r;
}
