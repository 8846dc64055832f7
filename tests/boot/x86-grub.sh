#!/usr/bin/env bash
# Real boots of the GRUB boot selection on x86_64 (SeaBIOS, QEMU under TCG): the project's
# overlay/boot/grub/grub.cfg and lifeboat-board.cfg.example on an MBR disk laid out as
# `make sdcard BOARD=qemu-x86_64` (1 boot, 2 recovery, 3 main, 4 data), with the `lifeboat`
# binary in main's initramfs marking good and asking for the recovery. One QEMU run is one boot
# attempt (-no-reboot); the boot state is read back from the disk image on the host after each.
#
# Prints "ok /boot/x86/NAME # SECONDS s" per scenario. Knobs (environment):
#   BOOT_SCENARIOS="normal panic"   run some scenarios only
#   BOOT_JOBS=N                     scenarios side by side (default: 2 on 2 or more CPUs)
#   X86_KERNEL_PACKAGE=PKG          the Debian kernel to boot (default linux-image-cloud-amd64;
#                                   linux-image-amd64 has the i6300esb watchdog driver, but
#                                   boots about twice as slowly under TCG)
#   BOOT_KEEP=1                     keep the disk images and consoles (the path is printed)
# The consoles of failed scenarios stay in build/boot-test/logs-x86/.
source "$(dirname "$0")/lib.sh"

KERNEL_PACKAGE=${X86_KERNEL_PACKAGE:-linux-image-cloud-amd64}
BUSYBOX=${BUSYBOX:-/bin/busybox}
ATTEMPTS=3     # boot-attempts: what an install and mark-good give main
LIMIT=90       # seconds one boot attempt may take before the host kills QEMU
HANG_LIMIT=30  # the same for a hung main when nothing in the guest can reset it
BOOT_JOBS=${BOOT_JOBS:-$(($(nproc) >= 2 ? 2 : 1))}
BOOT_LOGS=$BOOT_CACHE/logs-x86
BOOT_DATA_PART=4
SUITE_START=$(now_us)

if ! need qemu-system-x86_64 grub-mkimage grub-editenv sfdisk mkfs.ext4 debugfs blkid cpio gzip modinfo dpkg-deb; then
	skip /boot/x86 "$MISSING is not installed (scripts/install-deps)"
	exit 0
fi
if [ ! -f "$GRUB_PC_DIR/boot.img" ]; then
	skip /boot/x86 "no $GRUB_PC_DIR (grub-pc-bin)"
	exit 0
fi
if [[ $(ldd "$BUSYBOX" 2>&1) != *"not a dynamic executable"* ]]; then
	skip /boot/x86 "$BUSYBOX is not a static busybox (busybox-static)"
	exit 0
fi
[ -x "$LB" ] || { fail /boot/x86 "$LB is not built (make)"; exit 1; }

# ---- GRUB ----

# The card's GRUB core image (scripts/lib/disk.sh), made once per GRUB version.
grub_core() {
	local out=$BOOT_CACHE/grub-i386-pc-core.img key
	key="$(grub-mkimage --version) | $GRUB_PC_MODULES | $(declare -f grub_pc_core | sha256sum)"
	if ! cached "$key" "$out"; then
		grub_pc_core "$out" '(hd0,msdos1)/boot/grub' || return 1
		cached_done "$key" "$out"
	fi
	GRUB_CORE=$out
}

# ---- the disk ----

setup() {
	kernel_fetch "$KERNEL_PACKAGE" || { echo "cannot get the kernel package $KERNEL_PACKAGE"; return 1; }
	grub_core || { echo "grub-mkimage failed"; return 1; }
	pick_watchdog qemu-system-x86_64

	# One initramfs for both slots, with the modules to mount the boot partition (those built
	# into the kernel are left out); a small archive appended per slot says which slot it is.
	local r=$T/initramfs
	initramfs_skeleton "$r" "$BUSYBOX" &&
		initramfs_add_program "$r" "$LB" &&
		initramfs_add_modules "$r" virtio_pci virtio_blk crc32c_generic ext4 $WATCHDOG &&
		initramfs_write_init "$r" || { echo "cannot assemble the initramfs"; return 1; }
	mkdir -p "$r/etc/lifeboat"
	cat >"$r/etc/lifeboat/lifeboat.conf" <<-CONF
		compatible = qemu-x86_64
		target.rootfs = /dev/vda3
		boot-backend = grub
		boot-env = /mnt/boot/grub/grubenv
		boot-attempts = $ATTEMPTS
		reboot-command = reboot -f
	CONF
	BASE_INITRD=$T/base.cpio.gz
	initramfs_pack "$r" "$BASE_INITRD" || return 1

	# p2 recovery, p4 data, an empty p3; p1 starts empty too: each scenario writes its boot state.
	slots_build || return 1
	RECOVERY_BOOT=$T/p2/boot
	rm -f "$T/p1.img" && truncate -s 32M "$T/p1.img" || return 1
	DISK=$T/disk.img
	disk_build "$DISK" "$T/p1.img" "$T/p2.img" "$T/p3.img" "$T/p4.img" && grub_pc_install "$DISK" "$GRUB_CORE"
}

# set_state VAR=VALUE...: a fresh boot partition (p1): grub.cfg, the board file, the recovery's
# kernel and initramfs (GRUB cannot read the recovery's zstd squashfs, so on the card they live
# here) and a grubenv made by grub-editenv holding these variables (none: an empty environment). mkfs.ext4 -d
# writes the grubenv's 1024 bytes as real blocks, which GRUB's save_env needs.
set_state() {
	local d=$T/p1
	rm -rf "$d" && mkdir -p "$d/boot/grub" || return 1
	cp "$ROOT/overlay/boot/grub/grub.cfg" "$d/boot/grub/grub.cfg" &&
		cp "$ROOT/overlay/boot/grub/lifeboat-board.cfg.example" "$d/boot/grub/lifeboat-board.cfg" &&
		cp "$RECOVERY_BOOT/vmlinuz" "$RECOVERY_BOOT/initrd.img" "$d/boot/" &&
		grub-editenv "$d/boot/grub/grubenv" create || return 1
	[ $# -eq 0 ] || grub-editenv "$d/boot/grub/grubenv" set "$@" || return 1
	ext4_image "$T/p1.img" 32 "$d" boot && part_write "$DISK" 1 "$T/p1.img"
}

# env_get VAR: VAR from the boot partition's grubenv, read back from the disk image
# (`grub-editenv list` of the file debugfs extracts from p1).
env_get() {
	part_cat "$DISK" 1 /boot/grub/grubenv >"$T/grubenv.read" &&
		grub-editenv "$T/grubenv.read" list | sed -n "s/^$1=//p"
}

# attempt NAME [LIMIT]: one boot attempt of the disk.
attempt() {
	boot_attempt "$1" "${2:-$LIMIT}" qemu-system-x86_64 -machine pc -nodefaults \
		-drive "file=$DISK,format=raw,if=virtio" "${WATCHDOG_QEMU[@]}"
}

# The longest first, so that side by side they end close together.
boot_suite /boot/x86 panic hang reboot-recovery corrupt-kernel no-main normal
