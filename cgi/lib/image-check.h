/* The installer's last look at what it wrote, after the read-back proved the bytes: when an
 * image is a squashfs ("hsqs" at its start), the file system must also hold together (its
 * whole directory tree and every inode readable, squashfs-image.h), and it says which system
 * it is. The version comes from the first of these that the image has:
 *   /etc/lifeboat-version   its first line: the image's own name for its release, e.g.
 *                           "companion 2.4.1", which the distribution's file cannot know
 *   /etc/os-release         PRETTY_NAME, else NAME and VERSION, else VERSION
 *                           (/usr/lib/os-release when /etc has none, as os-release(5) says)
 * An image without either is valid; its version is just not known. Other images (ext4, raw
 * data) are not looked into. */
#pragma once

#include "error.h"
#include "manifest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LB_IMAGE_VERSION_MAX 128
#define LB_IMAGE_VERSION_FILE "/etc/lifeboat-version"

struct lb_image_check {
	char role[LB_TOKEN_MAX + 1];
	char type[16]; /* "squashfs", or "" when the image is of a kind not checked */
	uint64_t inodes;
	uint64_t directories;
	char version[LB_IMAGE_VERSION_MAX]; /* "" when the image does not say */
	char version_source[32];	    /* the file it came from, e.g. "/etc/os-release" */
};

/* Checks the image written at the start of `fd`, `size` bytes long. A file system that does
 * not hold together is LB_E_FILESYSTEM_INVALID; the message names the role. */
int lb_image_check(int fd, uint64_t size, const char *role, struct lb_image_check *ret, struct lb_error *err);

/* The version an os-release text gives (see above), printable ASCII; "" when none. */
void lb_os_release_version(const char *text, char *ret, size_t size);

/* The checked images as the JSON array "filesystems" of an install result (CLI --json and
 * POST /api/install): [{"role","type","inodes","directories","version","version_source"}],
 * images that were not looked into left out. */
void lb_image_checks_json(const struct lb_image_check *checks, unsigned count, FILE *f);

/* One line for a person and the log: 'rootfs: squashfs checked (4325 inodes), system "Debian
 * GNU/Linux 12 (bookworm)" from /etc/os-release'; "" for an image that was not looked into. */
void lb_image_check_describe(const struct lb_image_check *c, char *ret, size_t size);
