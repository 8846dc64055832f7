/* Making a bundle on the host: chunking, zero detection (holes cost nothing), parallel zstd
 * compression, hashing, the manifest and its signature. The output is written beside its final
 * name and renamed into place, so a half-made bundle never carries the bundle's name. */
#pragma once

#include "error.h"

#include <stdint.h>

struct lb_image_source {
	const char *role;
	const char *path;
};

struct lb_create_options {
	const char *key_path; /* NULL: an unsigned bundle, for development only */
	const char *compatible;
	const char *version;
	const char *description; /* may be NULL */
	const char *min_recovery_version;
	uint64_t build_time;
	const struct lb_image_source *images;
	unsigned image_count;
	uint32_t chunk_size;
	unsigned format;  /* 0: LB_FORMAT_VERSION; 1 for recoveries that read only format 1 */
	int level;        /* zstd level */
	unsigned threads; /* 0: one per online CPU */
	const char *output;
	void (*progress)(uint64_t done, uint64_t total, void *userdata);
	void *userdata;
};

int lb_bundle_create(const struct lb_create_options *opt, struct lb_error *err);

/* Names the file system in an image from its magic numbers: "ext4", "squashfs", "vfat" or "raw". */
const char *lb_detect_fstype(int fd);
