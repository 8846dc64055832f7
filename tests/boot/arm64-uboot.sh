#!/usr/bin/env bash
# Real boots of the U-Boot boot selection on aarch64 (QEMU `virt`, Cortex-A57, TCG, Debian's
# u-boot-qemu qemu_arm64 build): the project's overlay/boot/u-boot/boot.cmd (as boot.scr, found
# by U-Boot's distro boot on the FAT partition 1) and lifeboat-board.txt.example on an MBR disk
# laid out as `make sdcard` (1 boot FAT, 2 recovery, 3 main, 4 data), with an arm64 cross build
# of `lifeboat` in main's initramfs marking good and asking for the recovery. One QEMU run is one
# boot attempt (-no-reboot); the boot state pair lifeboat.env / lifeboat.env.redund is read back
# from the disk image on the host (mtools, fw_printenv) after each. The scenarios are lib.sh's,
# plus the redundant state's own: a torn first copy, a torn second copy, both damaged or missing,
# and a boot partition U-Boot cannot write.
#
# Prints "ok /boot/arm64/NAME # SECONDS s" per scenario. Knobs (environment):
#   BOOT_SCENARIOS="normal panic"   run some scenarios only
#   BOOT_JOBS=N                     scenarios side by side (default: 2 on 2 or more CPUs)
#   ARM64_KERNEL_PACKAGE=PKG        the Debian kernel (default linux-image-arm64:arm64, whose
#                                   i6300esb driver lets QEMU's PCI watchdog reset a hung main;
#                                   linux-image-cloud-arm64:arm64 boots about 20 % faster but has
#                                   no such driver: the guest's softdog resets it instead)
#   ARM64_BOOT_CMD=FILE             another boot.cmd than overlay/boot/u-boot/boot.cmd (to try a
#                                   change, or to check that the scenarios catch a broken one)
#   ARM64_UBOOT_ENV=default         boot with U-Boot's built-in environment (2 s autoboot delay)
#                                   instead of a pflash environment that only sets bootdelay=0
#   BOOT_KEEP=1                     keep the disk images and consoles (the path is printed)
# The consoles of failed scenarios stay in build/boot-test/logs-arm64/.
source "$(dirname "$0")/lib.sh"

KERNEL_PACKAGE=${ARM64_KERNEL_PACKAGE:-linux-image-arm64:arm64}
BUSYBOX_PACKAGE=busybox-static:arm64
UBOOT=$UBOOT_QEMU_ARM64 # scripts/lib/disk.sh
UBOOT_ENV=${ARM64_UBOOT_ENV:-pflash}
BOOT_CMD=${ARM64_BOOT_CMD:-$ROOT/overlay/boot/u-boot/boot.cmd}
LB_ARM64=$ROOT/build/arm64/bin/lifeboat
ATTEMPTS=3     # boot-attempts: what an install and mark-good give main
LIMIT=90       # seconds one boot attempt may take before the host kills QEMU
HANG_LIMIT=25  # the same for a hung main when nothing in the guest can reset it
BOOT_JOBS=${BOOT_JOBS:-$(($(nproc) >= 2 ? 2 : 1))}
BOOT_LOGS=$BOOT_CACHE/logs-arm64
BOOT_DATA_PART=4
SLOT_EXTRA=(boot_fstype=vfat) # the inits mount the FAT boot partition
SLOT_MIB=64    # an uncompressed arm64 Image is 27 to 33 MB
SUITE_START=$(now_us)
export MTOOLS_SKIP_CHECK=1

if ! need qemu-system-aarch64 mkimage mkenvimage fw_printenv mkfs.vfat mcopy sfdisk mkfs.ext4 debugfs \
	cpio gzip modinfo dpkg-deb readelf aarch64-linux-gnu-gcc; then
	skip /boot/arm64 "$MISSING is not installed (scripts/install-deps)"
	exit 0
fi
if [ ! -f "$UBOOT" ]; then
	skip /boot/arm64 "no $UBOOT (u-boot-qemu)"
	exit 0
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	skip /boot/arm64 "arm64 is not a dpkg architecture here (scripts/install-deps)"
	exit 0
fi
[ -x "$LB" ] || { fail /boot/arm64 "$LB is not built (make)"; exit 1; }

# ---- the programs: lifeboat for the guest, the state writer for the host ----

# The guest's `lifeboat`: the same sources, cross-compiled into build/arm64 (make is incremental).
lifeboat_arm64() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" -s CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar B=build/arm64 build/arm64/bin/lifeboat &&
		[ "$(elf_machine "$LB_ARM64")" = AArch64 ]
}

# ubootenv-write (tests/boot/ubootenv-write.c): the state pair written by the project's own
# writer, linked against the host's build/lib/liblifeboat.a.
UBOOTENV_WRITE=$T/ubootenv-write
ubootenv_write_build() {
	cc -D_GNU_SOURCE -I"$ROOT/cgi" -O1 -Wall -Wextra -Werror -o "$UBOOTENV_WRITE" \
		"$ROOT/tests/boot/ubootenv-write.c" "$ROOT/build/lib/liblifeboat.a" -lzstd -lcrypto -lpthread
}

# ---- U-Boot ----

# boot.scr from the project's boot.cmd (uboot_script: scripts/lib/disk.sh, as make-sdcard makes it).
BOOT_SCR=$T/boot.scr
boot_scr() { uboot_script "$BOOT_SCR" "$BOOT_CMD"; }

# U-Boot's own default environment with bootdelay=0 in the virt machine's second flash
# (uboot_pflash_env: scripts/lib/disk.sh, as make-sdcard puts it beside the card), made once per
# u-boot.bin. Read-only for QEMU, so scenarios side by side can share it.
UBOOT_ENV_DRIVE=()
uboot_env() {
	[ "$UBOOT_ENV" = default ] && return 0
	local out=$BOOT_CACHE/uboot-qemu_arm64-env-bootdelay0.img key
	key="$(openssl dgst -sha256 -r <"$UBOOT" | cut -c1-64) bootdelay=0"
	if ! cached "$key" "$out"; then
		uboot_pflash_env "$UBOOT" "$out" || return 1
		cached_done "$key" "$out"
	fi
	UBOOT_ENV_DRIVE=(-drive "if=pflash,format=raw,index=1,readonly=on,file=$out")
}

# ---- the watchdog a hung main arms ----


# ---- the disk ----

setup() {
	lifeboat_arm64 || { echo "cannot cross-build $LB_ARM64 (gcc-aarch64-linux-gnu, libzstd-dev:arm64, libssl-dev:arm64)"; return 1; }
	ubootenv_write_build || { echo "cannot build ubootenv-write"; return 1; }
	kernel_fetch "$KERNEL_PACKAGE" || { echo "cannot get the kernel package $KERNEL_PACKAGE"; return 1; }
	deb_fetch "$BUSYBOX_PACKAGE" "$BOOT_CACHE/pkg-busybox-static-arm64" ||
		{ echo "cannot get $BUSYBOX_PACKAGE"; return 1; }
	boot_scr || { echo "mkimage failed"; return 1; }
	uboot_env || { echo "cannot make the pflash environment"; return 1; }
	pick_watchdog qemu-system-aarch64

	# booti takes an uncompressed Image: a gzip-compressed vmlinuz is unpacked once.
	SLOT_KERNEL=$KERNEL_IMAGE
	if [ "$(head -c 2 "$KERNEL_IMAGE" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
		SLOT_KERNEL=$BOOT_CACHE/Image-$KERNEL_VERSION
		[ -s "$SLOT_KERNEL" ] || gzip -dc "$KERNEL_IMAGE" >"$SLOT_KERNEL" || return 1
	fi

	# One initramfs for both slots: busybox, lifeboat with its arm64 libraries and loader, the
	# modules for the virtio disk and the FAT boot partition (those built into the kernel are
	# left out); a small archive appended per slot says which slot it is.
	local r=$T/initramfs
	initramfs_skeleton "$r" "$BOOT_CACHE/pkg-busybox-static-arm64/bin/busybox" &&
		initramfs_add_program "$r" "$LB_ARM64" &&
		initramfs_add_modules "$r" virtio_pci virtio_blk crc32c_generic ext4 vfat nls_cp437 nls_ascii $WATCHDOG &&
		initramfs_write_init "$r" || { echo "cannot assemble the initramfs"; return 1; }
	mkdir -p "$r/etc/lifeboat"
	cat >"$r/etc/lifeboat/lifeboat.conf" <<-CONF
		compatible = qemu-aarch64
		target.rootfs = /dev/vda3
		boot-backend = uboot
		boot-env = /mnt/lifeboat.env
		boot-attempts = $ATTEMPTS
		reboot-command = reboot -f
	CONF
	BASE_INITRD=$T/base.cpio.gz
	initramfs_pack "$r" "$BASE_INITRD" || return 1

	# p2 recovery, p4 data, an empty p3; p1 (FAT) starts empty too: each scenario writes its own.
	slots_build || return 1
	rm -f "$T/p1.img" && truncate -s 16M "$T/p1.img" || return 1
	DISK=$T/disk.img
	disk_build "$DISK" "$T/p1.img:e" "$T/p2.img" "$T/p3.img" "$T/p4.img" && p1_dir && p1_write
}

# p1_dir VAR=VALUE...: the boot partition's files in $T/p1: boot.scr, lifeboat-board.txt (the
# example for this machine) and the state pair holding these variables (none: intact and empty),
# written by ubootenv-write, first copy then second.
p1_dir() {
	local d=$T/p1
	rm -rf "$d" && mkdir -p "$d" || return 1
	cp "$BOOT_SCR" "$d/boot.scr" &&
		cp "$ROOT/overlay/boot/u-boot/lifeboat-board.txt.example" "$d/lifeboat-board.txt" &&
		"$UBOOTENV_WRITE" "$d/lifeboat.env" "$@"
}

# p1_write: a fresh FAT16 file system with the files of $T/p1, over partition 1.
p1_write() { fat_image "$T/p1.img" 16 "$T/p1" BOOT && part_write "$DISK" 1 "$T/p1.img"; }

# set_state VAR=VALUE...: a fresh boot partition whose state pair holds these variables.
set_state() { p1_dir "$@" && p1_write; }

# damage FILE: one byte of the variables flipped, as a write torn inside the file leaves it: the
# CRC no longer matches.
damage() { flip_bit "$1" 12; }

# p1_get NAME OUT: a file of the boot partition, read on the host from the disk image.
p1_get() {
	local start
	start=$(part_geometry "$DISK" 1 | cut -d' ' -f1)
	mcopy -n -i "$DISK@@$start" "::$1" "$2" 2>/dev/null
}

# env_get VAR: VAR from lifeboat.env on the disk (fw_printenv, libubootenv's reader; a damaged
# copy reads as "<damaged>").
env_get() {
	printf '%s 0x0 0x1000\n' "$T/env.read" >"$T/fw_env.config"
	rm -f "$T/env.read"
	p1_get lifeboat.env "$T/env.read" || { echo "<missing>"; return; }
	fw_printenv -c "$T/fw_env.config" >"$T/env.list" 2>/dev/null || { echo "<damaged>"; return; }
	sed -n "s/^$1=//p" "$T/env.list"
}

# expect_copies_agree: when lifeboat.env is intact, lifeboat.env.redund holds the same bytes: both
# U-Boot and lifeboat write the pair together, first then second.
expect_copies_agree() {
	[ "$(env_get LB_ORDER)" = "<damaged>" ] && return
	[ "$(env_get LB_ORDER)" = "<missing>" ] && return
	p1_get lifeboat.env "$T/first" && p1_get lifeboat.env.redund "$T/second" && cmp -s "$T/first" "$T/second" ||
		ERRORS+=("after $(attempt_name): lifeboat.env.redund differs from the intact lifeboat.env")
}

# attempt NAME [LIMIT]: one boot attempt of the disk (read-only with DISK_READONLY=1).
attempt() {
	boot_attempt "$1" "${2:-$LIMIT}" qemu-system-aarch64 -machine virt -cpu cortex-a57 -nodefaults \
		-bios "$UBOOT" "${UBOOT_ENV_DRIVE[@]}" -drive "file=$DISK,format=raw,if=virtio${DISK_READONLY:+,readonly=on}" \
		"${WATCHDOG_QEMU[@]}"
	expect_copies_agree
}

# ---- the redundant state's own scenarios ----

# 8a. Torn writes. First: `lifeboat reboot-recovery` cut inside the first copy (its new bytes,
# one of them wrong) while the second still holds the state before (main, 3 attempts): U-Boot
# takes lifeboat.env.redund, counts main's attempt, writes both copies whole again and boots main,
# which marks itself good. Then the other order: the first copy whole and new (the recovery asked
# for), the second torn: U-Boot takes the first, boots the recovery by request and rewrites both.
sc_torn_first() {
	install_main good && p1_dir "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS LB_ONESHOT=recovery &&
		cp "$T/p1/lifeboat.env" "$T/new.env" && damage "$T/new.env" &&
		p1_dir "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS && cp "$T/new.env" "$T/p1/lifeboat.env" &&
		p1_write || { ERRORS+=("setup failed"); return; }
	attempt torn-first
	expect_log "^lifeboat: boot state from lifeboat.env.redund" "U-Boot did not fall back on lifeboat.env.redund"
	expect_marker main
	expect_not_killed
	expect_log "^lifeboat: booting main \(2 attempts left" "U-Boot did not count main's attempt from the second copy"
	expect_log '^LIFEBOAT-MARKED-GOOD' "mark-good failed in the guest"
	expect_env LB_main_LEFT $ATTEMPTS
	expect_env LB_ONESHOT ""

	p1_dir "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS LB_ONESHOT=recovery && damage "$T/p1/lifeboat.env.redund" &&
		p1_write || { ERRORS+=("setup failed"); return; }
	attempt torn-second
	expect_log "^lifeboat: boot state from lifeboat.env$" "U-Boot did not take the intact first copy"
	expect_marker recovery requested
	expect_not_killed
	expect_env LB_ONESHOT ""
	expect_env LB_main_LEFT $ATTEMPTS
}

# 8b. Both copies damaged, and both missing (a boot partition without them): no state can be
# trusted, the recovery boots (reason no-main: no main is in an order U-Boot could read).
sc_torn_both() {
	install_main good && p1_dir "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS &&
		damage "$T/p1/lifeboat.env" && damage "$T/p1/lifeboat.env.redund" && p1_write ||
		{ ERRORS+=("setup failed"); return; }
	attempt torn-both
	expect_log "^lifeboat: no intact boot state" "U-Boot did not see that both copies are damaged"
	expect_marker recovery no-main
	expect_not_killed

	p1_dir && rm "$T/p1/lifeboat.env" "$T/p1/lifeboat.env.redund" && p1_write || { ERRORS+=("setup failed"); return; }
	attempt no-state-files
	expect_log "^lifeboat: no intact boot state" "U-Boot did not see that there is no state"
	expect_marker recovery no-main
	expect_not_killed
}

# 8c. The boot partition cannot be written (here the whole disk is read-only to the guest): U-Boot
# cannot count main's attempt, so it boots the recovery (reason state-unwritable) rather than a
# main that would be retried forever if it failed. The state on the disk is unchanged.
sc_unwritable() {
	fresh_main good || return
	DISK_READONLY=1 attempt unwritable
	expect_log "^lifeboat: the boot state cannot be saved" "U-Boot did not notice that its write failed"
	expect_marker recovery state-unwritable
	expect_not_killed
	expect_env LB_main_LEFT $ATTEMPTS
}

SETUP_NOTE="U-Boot environment: $([ "$UBOOT_ENV" = default ] && echo "built-in (bootdelay 2 s)" || echo "pflash, bootdelay=0")"
# The longest first, so that side by side they end close together.
boot_suite /boot/arm64 panic hang reboot-recovery corrupt-kernel torn-first torn-both no-main unwritable normal
