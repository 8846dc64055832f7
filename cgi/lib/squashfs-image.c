#include "squashfs-image.h"
#include "io.h"
#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#define HASH_BUFFER (1u << 20)
#define PATH_SHOWN 1024	   /* paths in messages, cut to this */
#define SYMLINK_HOPS_MAX 8 /* as a version file is looked up: a loop is "no such file" */
#define TABLE_ABSENT UINT64_MAX

/* libsquashfs reads through a sqfs_file_t. This one reads a byte range of a descriptor or of
 * memory and refuses to write. Reads are limited to `limit`: the source's size until the super
 * block is checked, bytes_used afterwards (a table pointing past the file system's end is
 * damage, not a reason to read the partition's unused rest). */
struct source {
	sqfs_file_t base; /* first: libsquashfs hands this pointer back */
	int fd;		  /* -1 for memory */
	const uint8_t *memory;
	uint64_t size;	/* bytes there are */
	uint64_t limit; /* bytes libsquashfs may read */
	int io_errno;	/* the last failed read's errno, for the message */
};

struct lb_squashfs {
	struct source src;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	/* made on first use: a hash needs none of them */
	sqfs_dir_reader_t *dirs;
	sqfs_data_reader_t *data; /* with the fragment table loaded */
	sqfs_id_table_t *ids;
	struct lb_squashfs_info info;
};

static int read_raw(struct source *s, uint64_t offset, void *buf, size_t size)
{
	if (s->memory) {
		memcpy(buf, s->memory + offset, size);
		return 0;
	}
	int r = lb_pread_full(s->fd, buf, size, offset);
	if (r < 0)
		s->io_errno = -r;
	return r;
}

static int source_read_at(sqfs_file_t *file, sqfs_u64 offset, void *buf, size_t size)
{
	struct source *s = (struct source *)file;
	if (offset > s->limit || size > s->limit - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	return read_raw(s, offset, buf, size) < 0 ? SQFS_ERROR_IO : 0;
}

static int source_write_at(sqfs_file_t *file, sqfs_u64 offset, const void *buf, size_t size)
{
	(void)file, (void)offset, (void)buf, (void)size;
	return SQFS_ERROR_IO;
}

static sqfs_u64 source_get_size(const sqfs_file_t *file)
{
	return ((const struct source *)file)->limit;
}

static int source_truncate(sqfs_file_t *file, sqfs_u64 size)
{
	(void)file, (void)size;
	return SQFS_ERROR_IO;
}

static void source_destroy(sqfs_object_t *obj)
{
	(void)obj; /* embedded in struct lb_squashfs */
}

bool lb_squashfs_magic(const void *data, size_t size)
{
	return size >= 4 && memcmp(data, "hsqs", 4) == 0;
}

static const char *sqfs_error_text(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC:
		return "out of memory";
	case SQFS_ERROR_COMPRESSOR:
		return "a block does not decompress";
	case SQFS_ERROR_CORRUPTED:
		return "corrupted";
	case SQFS_ERROR_UNSUPPORTED:
		return "uses something this reader does not support";
	case SQFS_ERROR_OVERFLOW:
		return "a size or count overflows";
	case SQFS_ERROR_OUT_OF_BOUNDS:
		return "points outside the file system";
	case SFQS_ERROR_SUPER_MAGIC:
		return "no squashfs magic";
	case SFQS_ERROR_SUPER_VERSION:
		return "not squashfs version 4.0";
	case SQFS_ERROR_SUPER_BLOCK_SIZE:
		return "the block size is not a power of two from 4 KiB to 1 MiB";
	case SQFS_ERROR_NOT_DIR:
		return "a directory is not a directory";
	case SQFS_ERROR_NO_ENTRY:
		return "an entry is missing";
	case SQFS_ERROR_LINK_LOOP:
		return "a loop";
	case SQFS_ERROR_NOT_FILE:
		return "a file is not a regular file";
	default:
		return "unexpected error";
	}
}

/* A libsquashfs error, worded for a person: what was being read and what went wrong. */
static int squashfs_error(struct lb_squashfs *fs, int e, const char *what, struct lb_error *err)
{
	/* libsquashfs sizes some allocations from the image itself (an inode's block list from the
	 * file size it claims): memory running out while reading an image means a size in it is
	 * implausible far more often than that the recovery is short of memory. */
	if (e == SQFS_ERROR_ALLOC)
		return lb_error_set(err, ENOMEM, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged or too large to check here: reading %s needs more memory "
				    "than there is",
				    what);
	if (e == SQFS_ERROR_IO && fs->src.io_errno)
		return lb_error_set(err, fs->src.io_errno, LB_E_READ, "reading %s of the squashfs failed: %s", what,
				    strerror(fs->src.io_errno));
	return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID, "the squashfs is damaged: %s: %s (error %d)", what,
			    sqfs_error_text(e), e);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* What libsquashfs does not check: the tables lie in the order its readers assume, inside the
 * file system, which itself lies inside the source. */
static int check_layout(struct lb_squashfs *fs, struct lb_error *err)
{
	const sqfs_super_t *sb = &fs->super;
	uint64_t used = sb->bytes_used;
	if (used < LB_SQUASHFS_SUPER_SIZE || used > fs->src.size)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs says it is %llu bytes long, but %llu bytes are there: the image "
				    "was cut short or its super block is damaged",
				    (unsigned long long)used, (unsigned long long)fs->src.size);
	if (sb->inode_table_start < LB_SQUASHFS_SUPER_SIZE || sb->inode_table_start >= sb->directory_table_start ||
	    sb->directory_table_start > sb->id_table_start || sb->id_table_start >= used)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs super block is damaged: its inode, directory and ID tables are not "
				    "in order inside its %llu bytes",
				    (unsigned long long)used);
	const struct {
		const char *name;
		uint64_t start;
	} optional[] = {
	    {"fragment", sb->fragment_table_start},
	    {"export", sb->export_table_start},
	    {"extended attribute", sb->xattr_id_table_start},
	};
	for (size_t i = 0; i < ELEMENTSOF(optional); i++)
		if (optional[i].start != TABLE_ABSENT &&
		    (optional[i].start < sb->directory_table_start || optional[i].start >= used))
			return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
					    "the squashfs super block is damaged: its %s table starts at %llu, "
					    "outside its %llu bytes",
					    optional[i].name, (unsigned long long)optional[i].start,
					    (unsigned long long)used);
	return 0;
}

static int open_source(struct lb_squashfs *fs, struct lb_error *err)
{
	struct source *s = &fs->src;
	uint8_t raw[LB_SQUASHFS_SUPER_SIZE];
	int e;

	s->base = (sqfs_file_t){
	    .base = {.destroy = source_destroy},
	    .read_at = source_read_at,
	    .write_at = source_write_at,
	    .get_size = source_get_size,
	    .truncate = source_truncate,
	};
	s->limit = s->size;
	if (s->size < LB_SQUASHFS_SUPER_SIZE)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "%llu bytes are too few for a squashfs (its super block alone is %d)",
				    (unsigned long long)s->size, LB_SQUASHFS_SUPER_SIZE);
	if ((e = source_read_at(&s->base, 0, raw, sizeof(raw))) != 0)
		return squashfs_error(fs, e, "the super block", err);
	if (!lb_squashfs_magic(raw, sizeof(raw)))
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID, "not a squashfs: no 'hsqs' magic at its start");
	if (le16(raw + 28) != SQFS_VERSION_MAJOR || le16(raw + 30) != SQFS_VERSION_MINOR)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is version %u.%u; only version 4.0 is read here", le16(raw + 28),
				    le16(raw + 30));
	if ((e = sqfs_super_read(&fs->super, &s->base)) != 0)
		return squashfs_error(fs, e, "the super block", err);
	int r = check_layout(fs, err);
	if (r < 0)
		return r;
	s->limit = fs->super.bytes_used;

	const char *method = sqfs_compressor_name_from_id(fs->super.compression_id);
	sqfs_compressor_config_t cfg;
	if (sqfs_compressor_config_init(&cfg, fs->super.compression_id, fs->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS) != 0 ||
	    sqfs_compressor_create(&cfg, &fs->cmp) != 0)
		return lb_error_set(err, ENOTSUP, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is compressed with %s (id %u), which this build cannot read",
				    method ? method : "an unknown method", fs->super.compression_id);
	if ((fs->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) && (e = fs->cmp->read_options(fs->cmp, &s->base)) != 0)
		return squashfs_error(fs, e, "the compressor options", err);

	fs->info = (struct lb_squashfs_info){
	    .bytes_used = fs->super.bytes_used,
	    .block_size = fs->super.block_size,
	    .inode_count = fs->super.inode_count,
	    .mtime = fs->super.modification_time,
	    .compression = method ? method : "unknown",
	};
	return 0;
}

static int open_common(struct lb_squashfs *fs, struct lb_squashfs **ret, struct lb_error *err)
{
	int r = open_source(fs, err);
	if (r < 0) {
		lb_squashfs_close(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

int lb_squashfs_open_fd(int fd, uint64_t size, struct lb_squashfs **ret, struct lb_error *err)
{
	struct lb_squashfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	fs->src.fd = fd;
	fs->src.size = size;
	return open_common(fs, ret, err);
}

int lb_squashfs_open_memory(const void *data, size_t size, struct lb_squashfs **ret, struct lb_error *err)
{
	struct lb_squashfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	fs->src.fd = -1;
	fs->src.memory = data;
	fs->src.size = size;
	return open_common(fs, ret, err);
}

void lb_squashfs_close(struct lb_squashfs *fs)
{
	if (!fs)
		return;
	sqfs_destroy(fs->dirs);
	sqfs_destroy(fs->data);
	sqfs_destroy(fs->ids);
	sqfs_destroy(fs->cmp);
	free(fs);
}

const struct lb_squashfs_info *lb_squashfs_info(const struct lb_squashfs *fs)
{
	return &fs->info;
}

/* ---- the hash ---- */

static void lb_sha256_stream_freep(struct lb_sha256_stream **s)
{
	lb_sha256_stream_free(*s);
}

/* Feeds [from, to) of the source into `stream`. */
static int hash_range(struct lb_squashfs *fs, struct lb_sha256_stream *stream, uint8_t *buf, uint64_t from,
		      uint64_t to, struct lb_error *err)
{
	for (uint64_t off = from; off < to;) {
		size_t n = to - off < HASH_BUFFER ? (size_t)(to - off) : HASH_BUFFER;
		if (read_raw(&fs->src, off, buf, n) < 0)
			return lb_error_set(err, fs->src.io_errno, LB_E_READ, "reading the squashfs at byte %llu failed: %s",
					    (unsigned long long)off, strerror(fs->src.io_errno));
		lb_sha256_stream_update(stream, buf, n);
		off += n;
	}
	return 0;
}

int lb_squashfs_hash(struct lb_squashfs *fs, struct lb_squashfs_digests *ret, struct lb_error *err)
{
	uint64_t own = fs->super.bytes_used;
	uint64_t padded = (own + LB_SQUASHFS_PADDING - 1) / LB_SQUASHFS_PADDING * LB_SQUASHFS_PADDING;
	*ret = (struct lb_squashfs_digests){.padded_length = padded <= fs->src.size ? padded : 0};

	_cleanup_free_ uint8_t *buf = malloc(HASH_BUFFER);
	_cleanup_(lb_sha256_stream_freep) struct lb_sha256_stream *stream = lb_sha256_stream_new();
	if (!buf || !stream)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for hashing");
	if (fs->src.fd >= 0)
		posix_fadvise(fs->src.fd, 0, (off_t)own, POSIX_FADV_SEQUENTIAL);
	int r = hash_range(fs, stream, buf, 0, own, err);
	if (r < 0)
		return r;
	if (ret->padded_length) {
		/* one read of the file system, two endings */
		_cleanup_(lb_sha256_stream_freep) struct lb_sha256_stream *with_padding = lb_sha256_stream_dup(stream);
		if (!with_padding)
			return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for hashing");
		if ((r = hash_range(fs, with_padding, buf, own, padded, err)) < 0)
			return r;
		lb_sha256_stream_final(with_padding, ret->padded);
	}
	lb_sha256_stream_final(stream, ret->own);
	return 0;
}

/* ---- readers for the tree and the data ---- */

static int open_readers(struct lb_squashfs *fs, struct lb_error *err)
{
	int e;
	if (fs->dirs)
		return 0;
	/* what an earlier, failed attempt left */
	sqfs_destroy(fs->ids);
	sqfs_destroy(fs->data);
	fs->data = NULL;
	fs->ids = sqfs_id_table_create(0);
	if (!fs->ids)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	if ((e = sqfs_id_table_read(fs->ids, &fs->src.base, &fs->super, fs->cmp)) != 0)
		return squashfs_error(fs, e, "the ID table (owners)", err);
	fs->data = sqfs_data_reader_create(&fs->src.base, fs->super.block_size, fs->cmp, 0);
	if (!fs->data)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	if ((e = sqfs_data_reader_load_fragment_table(fs->data, &fs->super)) != 0)
		return squashfs_error(fs, e, "the fragment table", err);
	fs->dirs = sqfs_dir_reader_create(&fs->super, fs->cmp, &fs->src.base, 0);
	if (!fs->dirs)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	return 0;
}

/* Extended inode types are the basic ones plus 7 (SQFS_INODE_EXT_DIR = SQFS_INODE_DIR + 7). */
static unsigned basic_type(const sqfs_inode_generic_t *inode)
{
	unsigned t = inode->base.type;
	return t > SQFS_INODE_SOCKET ? t - (SQFS_INODE_EXT_DIR - SQFS_INODE_DIR) : t;
}

static void inode_freep(sqfs_inode_generic_t **inode)
{
	sqfs_free(*inode);
}

/* ---- the walk ---- */

/* Directory inode numbers seen: an open-addressing set (0 is never an inode number). */
struct number_set {
	uint32_t *slots;
	size_t capacity, count;
};

static size_t slot_of(uint32_t n, size_t capacity)
{
	return (size_t)(n * 2654435761u) & (capacity - 1);
}

/* 1 when added, 0 when it was there, -ENOMEM. */
static int number_set_add(struct number_set *set, uint32_t n)
{
	if (2 * (set->count + 1) > set->capacity) {
		size_t capacity = set->capacity ? 2 * set->capacity : 1024;
		uint32_t *slots = calloc(capacity, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < set->capacity; i++)
			if (set->slots[i]) {
				size_t k = slot_of(set->slots[i], capacity);
				while (slots[k])
					k = (k + 1) & (capacity - 1);
				slots[k] = set->slots[i];
			}
		free(set->slots);
		set->slots = slots;
		set->capacity = capacity;
	}
	size_t k = slot_of(n, set->capacity);
	while (set->slots[k]) {
		if (set->slots[k] == n)
			return 0;
		k = (k + 1) & (set->capacity - 1);
	}
	set->slots[k] = n;
	set->count++;
	return 1;
}

/* A directory still to be read, with its path for messages. */
struct pending_dir {
	sqfs_inode_generic_t *inode;
	char *path; /* "" for the root */
};

struct walk {
	struct lb_squashfs *fs;
	struct number_set seen_dirs;
	struct pending_dir *stack;
	size_t depth, capacity;
	struct lb_squashfs_walk *stats;
};

static const char *shown(const char *path)
{
	return *path ? path : "/";
}

/* An inode's own fields, checked against the tables. */
static int check_inode(struct walk *w, const sqfs_inode_generic_t *inode, const char *path, struct lb_error *err)
{
	const sqfs_super_t *sb = &w->fs->super;
	sqfs_u32 id;
	if (inode->base.inode_number == 0 || inode->base.inode_number > sb->inode_count)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: %s has inode number %u, outside 1 to %u", shown(path),
				    inode->base.inode_number, sb->inode_count);
	if (sqfs_id_table_index_to_id(w->fs->ids, inode->base.uid_idx, &id) != 0 ||
	    sqfs_id_table_index_to_id(w->fs->ids, inode->base.gid_idx, &id) != 0)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: the owner of %s is not in its ID table", shown(path));
	if (basic_type(inode) != SQFS_INODE_FILE)
		return 0;

	sqfs_u64 start = 0, size = 0;
	sqfs_u32 fragment = 0, fragment_offset = 0;
	sqfs_inode_get_file_block_start(inode, &start);
	sqfs_inode_get_file_size(inode, &size);
	sqfs_inode_get_frag_location(inode, &fragment, &fragment_offset);
	uint64_t end = start;
	for (size_t i = 0; i < sqfs_inode_get_file_block_count(inode); i++)
		end += SQFS_ON_DISK_BLOCK_SIZE(inode->extra[i]);
	if (end > sb->bytes_used)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: the data of %s lies outside the file system", shown(path));
	if (fragment != UINT32_MAX && fragment >= sb->fragment_entry_count)
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: %s names fragment %u of %u", shown(path), fragment,
				    sb->fragment_entry_count);
	return 0;
}

static int push_dir(struct walk *w, sqfs_inode_generic_t *inode, const char *path, struct lb_error *err)
{
	if (w->depth == w->capacity) {
		size_t capacity = w->capacity ? 2 * w->capacity : 64;
		struct pending_dir *stack = realloc(w->stack, capacity * sizeof(*stack));
		if (!stack)
			return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the directory walk");
		w->stack = stack;
		w->capacity = capacity;
	}
	struct pending_dir *top = &w->stack[w->depth];
	top->path = strdup(path);
	if (!top->path)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the directory walk");
	top->inode = inode;
	w->depth++;
	return 0;
}

/* Takes a directory inode: reached twice means a loop (squashfs has no directory hard links). */
static int visit_dir(struct walk *w, sqfs_inode_generic_t *inode, const char *path, struct lb_error *err)
{
	int added = number_set_add(&w->seen_dirs, inode->base.inode_number);
	if (added < 0) {
		sqfs_free(inode);
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory for the directory walk");
	}
	if (added == 0) {
		sqfs_free(inode);
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: directory %s is reached twice (a loop in the tree)",
				    shown(path));
	}
	int r = push_dir(w, inode, path, err);
	if (r < 0)
		sqfs_free(inode);
	return r;
}

static int read_listing(struct walk *w, const struct pending_dir *dir, struct lb_error *err)
{
	struct lb_squashfs *fs = w->fs;
	int e = sqfs_dir_reader_open_dir(fs->dirs, dir->inode, 0);
	char what[PATH_SHOWN + 64];
	if (e != 0) {
		snprintf(what, sizeof(what), "the listing of %s", shown(dir->path));
		return squashfs_error(fs, e, what, err);
	}
	for (;;) {
		sqfs_dir_entry_t *entry = NULL;
		e = sqfs_dir_reader_read(fs->dirs, &entry);
		if (e > 0)
			return 0;
		if (e < 0) {
			snprintf(what, sizeof(what), "the listing of %s", shown(dir->path));
			return squashfs_error(fs, e, what, err);
		}
		char path[PATH_SHOWN], name[300];
		snprintf(name, sizeof(name), "%s", (const char *)entry->name);
		snprintf(path, sizeof(path), "%s/%s", dir->path, name);
		unsigned entry_type = entry->type;
		sqfs_free(entry);
		if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
			return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
					    "the squashfs is damaged: directory %s has an entry named \"%s\"",
					    shown(dir->path), name);

		_cleanup_(inode_freep) sqfs_inode_generic_t *inode = NULL;
		if ((e = sqfs_dir_reader_get_inode(fs->dirs, &inode)) != 0) {
			snprintf(what, sizeof(what), "the inode of %s", path);
			return squashfs_error(fs, e, what, err);
		}
		int r = check_inode(w, inode, path, err);
		if (r < 0)
			return r;
		if (basic_type(inode) != entry_type)
			return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
					    "the squashfs is damaged: the entry of %s says type %u, its inode type %u",
					    path, entry_type, inode->base.type);
		w->stats->inodes++;
		switch (entry_type) {
		case SQFS_INODE_DIR:
			w->stats->directories++;
			if ((r = visit_dir(w, TAKE_PTR(inode), path, err)) < 0)
				return r;
			break;
		case SQFS_INODE_FILE:
			w->stats->files++;
			break;
		case SQFS_INODE_SLINK:
			w->stats->symlinks++;
			break;
		default:
			w->stats->others++;
			break;
		}
	}
}

int lb_squashfs_walk(struct lb_squashfs *fs, struct lb_squashfs_walk *ret, struct lb_error *err)
{
	struct walk w = {.fs = fs, .stats = ret};
	sqfs_inode_generic_t *root = NULL;
	int r, e;

	*ret = (struct lb_squashfs_walk){0};
	if ((r = open_readers(fs, err)) < 0)
		return r;
	if ((e = sqfs_dir_reader_get_root_inode(fs->dirs, &root)) != 0)
		return squashfs_error(fs, e, "the root directory's inode", err);
	if (basic_type(root) != SQFS_INODE_DIR) {
		sqfs_free(root);
		return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
				    "the squashfs is damaged: its root is not a directory");
	}
	if ((r = check_inode(&w, root, "", err)) < 0) {
		sqfs_free(root);
		return r;
	}
	ret->inodes = ret->directories = 1;
	r = visit_dir(&w, root, "", err);
	/* depth first: the stack holds the siblings of the directories above, not the whole tree */
	while (r == 0 && w.depth > 0) {
		struct pending_dir dir = w.stack[--w.depth];
		r = read_listing(&w, &dir, err);
		sqfs_free(dir.inode);
		free(dir.path);
	}
	while (w.depth > 0) {
		sqfs_free(w.stack[--w.depth].inode);
		free(w.stack[w.depth].path);
	}
	free(w.stack);
	free(w.seen_dirs.slots);
	return r;
}

/* ---- one file by path ---- */

/* `base`'s directory joined with a symbolic link's target, "." and ".." resolved (".." at the
 * root stays at the root, as the kernel does it). */
static void resolve_link(const char *base, const char *target, size_t target_len, char *ret, size_t size)
{
	char joined[4096];
	if (target_len && target[0] == '/')
		snprintf(joined, sizeof(joined), "%.*s", (int)target_len, target);
	else {
		const char *slash = strrchr(base, '/');
		int dir_len = slash ? (int)(slash - base) : 0;
		snprintf(joined, sizeof(joined), "%.*s/%.*s", dir_len, base, (int)target_len, target);
	}
	size_t n = 0;
	ret[0] = '\0';
	char *save = NULL;
	for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		if (!strcmp(part, "..")) {
			char *last = strrchr(ret, '/');
			n = last ? (size_t)(last - ret) : 0;
			ret[n] = '\0';
			continue;
		}
		int w = snprintf(ret + n, size - n, "/%s", part);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (!ret[0])
		snprintf(ret, size, "/");
}

int lb_squashfs_read_file(struct lb_squashfs *fs, const char *path, size_t max, char **ret_data, size_t *ret_size,
			  struct lb_error *err)
{
	char current[4096], what[4096 + 32];
	int r, e;
	if ((r = open_readers(fs, err)) < 0)
		return r;
	snprintf(current, sizeof(current), "%s", path);
	for (unsigned hops = 0;; hops++) {
		_cleanup_(inode_freep) sqfs_inode_generic_t *inode = NULL;
		e = sqfs_dir_reader_find_by_path(fs->dirs, NULL, current, &inode);
		if (e == SQFS_ERROR_NO_ENTRY || e == SQFS_ERROR_NOT_DIR)
			return -ENOENT;
		snprintf(what, sizeof(what), "%s", current);
		if (e != 0)
			return squashfs_error(fs, e, what, err);
		if (basic_type(inode) == SQFS_INODE_SLINK) {
			if (hops == SYMLINK_HOPS_MAX)
				return -ENOENT;
			size_t n = inode->base.type == SQFS_INODE_SLINK ? inode->data.slink.target_size
									: inode->data.slink_ext.target_size;
			char next[sizeof(current)];
			resolve_link(current, (const char *)inode->extra, n, next, sizeof(next));
			memcpy(current, next, sizeof(current));
			continue;
		}
		if (basic_type(inode) != SQFS_INODE_FILE)
			return -ENOENT;
		sqfs_u64 size = 0;
		sqfs_inode_get_file_size(inode, &size);
		if (size > max)
			return -EFBIG;
		_cleanup_free_ char *buf = malloc((size_t)size + 1);
		if (!buf)
			return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
		sqfs_s32 n = sqfs_data_reader_read(fs->data, inode, 0, buf, (sqfs_u32)size);
		if (n < 0)
			return squashfs_error(fs, n, what, err);
		if ((sqfs_u64)n != size)
			return lb_error_set(err, EBADMSG, LB_E_FILESYSTEM_INVALID,
					    "the squashfs is damaged: %s gave %d of its %llu bytes", what, (int)n,
					    (unsigned long long)size);
		buf[size] = '\0';
		if (ret_size)
			*ret_size = (size_t)size;
		*ret_data = TAKE_PTR(buf);
		return 0;
	}
}
