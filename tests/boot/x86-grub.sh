#!/usr/bin/env bash
# Real boots of the GRUB boot selection on x86_64 (SeaBIOS, QEMU under TCG): the project's
# overlay/boot/grub/grub.cfg and lifeboat-board.cfg.example on an MBR disk laid out as
# `make sdcard BOARD=qemu-x86_64` (1 boot, 2 recovery, 3 main, 4 data), the `lifeboat` binary in
# main's initramfs marking good and asking for the recovery. One QEMU run is one boot attempt
# (-no-reboot); the boot state is read back from the disk image on the host between runs.
# Each scenario prints "ok /boot/x86/NAME # seconds"; the console logs of a failed one follow.
source "$(dirname "$0")/lib.sh"

KERNEL_PACKAGE=${X86_KERNEL_PACKAGE:-linux-image-cloud-amd64}
BUSYBOX=${BUSYBOX:-/bin/busybox}
GRUB_DIR=/usr/lib/grub/i386-pc
ATTEMPTS=3   # boot-attempts: what an install and mark-good give main
LIMIT=90     # seconds a boot attempt may take before the host kills it
HANG_LIMIT=40 # the same when only the host's kill can end a hung main
SUITE_START=$(now_us)

if ! need qemu-system-x86_64 grub-mkimage grub-editenv sfdisk mkfs.ext4 debugfs blkid cpio gzip modinfo dpkg-deb; then
	skip /boot/x86 "$MISSING is not installed (scripts/install-deps)"
	exit 0
fi
if [ ! -f "$GRUB_DIR/boot.img" ]; then
	skip /boot/x86 "no $GRUB_DIR (grub-pc-bin)"
	exit 0
fi
if [[ $(ldd "$BUSYBOX" 2>&1) != *"not a dynamic executable"* ]]; then
	skip /boot/x86 "$BUSYBOX is not a static busybox (busybox-static)"
	exit 0
fi
[ -x "$LB" ] || { fail /boot/x86 "$LB is not built (make)"; exit 1; }

# ---- the pieces, made once ----

# The GRUB core image: the modules grub.cfg needs, the prefix of the boot partition, and an
# embedded first config that puts GRUB's console on the serial port (the test reads it there).
GRUB_MODULES="biosdisk part_msdos ext2 normal configfile test echo linux boot loadenv sleep reboot halt eval serial terminal"
grub_core() {
	local out=$BOOT_CACHE/grub-i386-pc-core.img key
	printf 'serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n' >"$T/grub-early.cfg"
	key="$(grub-mkimage --version) | $GRUB_MODULES | $(cat "$T/grub-early.cfg")"
	if ! cached "$key" "$out"; then
		grub-mkimage -O i386-pc -d "$GRUB_DIR" -o "$out" -p '(hd0,msdos1)/boot/grub' -c "$T/grub-early.cfg" \
			$GRUB_MODULES || return 1
		cached_done "$key" "$out"
	fi
	GRUB_CORE=$out
}

# GRUB into the disk as grub-bios-setup would embed it: boot.img's code (the first 440 bytes;
# the partition table stays) and core.img from sector 1, in the gap before the first partition.
# boot.img's kernel sector (1) and core.img's first block list (sector 2 on) are the defaults.
grub_install() {
	local disk=$1 first
	first=$(($(part_geometry "$disk" 1 | cut -d' ' -f1) / 512))
	if [ $(($(size_of "$GRUB_CORE") / 512 + 1)) -ge "$first" ]; then
		echo "core.img does not fit before sector $first" >&2
		return 1
	fi
	dd if="$GRUB_DIR/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none &&
		dd if="$GRUB_CORE" of="$disk" bs=512 seek=1 conv=notrunc status=none
}

# The watchdog main arms when it hangs: QEMU's i6300esb when the kernel has its driver, else
# the kernel's softdog (the guest resets itself), else none (the host's time limit kills QEMU,
# which the test then counts as the reset).
pick_watchdog() {
	WATCHDOG= WATCHDOG_ARGS= WATCHDOG_QEMU=() WATCHDOG_NOTE=
	if [ -n "$(kernel_module_path i6300esb)" ]; then
		WATCHDOG=i6300esb WATCHDOG_ARGS="heartbeat=2" WATCHDOG_QEMU=(-device i6300esb -action watchdog=reset)
		WATCHDOG_NOTE="watchdog: QEMU i6300esb"
	elif [ "$(kernel_config I6300ESB_WDT)" = y ]; then
		WATCHDOG_NOTE="i6300esb built in: not handled, the host's time limit resets"
	elif [ -n "$(kernel_module_path softdog)" ]; then
		WATCHDOG=softdog WATCHDOG_ARGS="soft_margin=3"
		WATCHDOG_NOTE="watchdog: the guest kernel's softdog, $KERNEL_VERSION has no i6300esb driver"
	else
		WATCHDOG_NOTE="no watchdog driver in $KERNEL_VERSION: the host's time limit is the reset"
	fi
}

setup() {
	kernel_fetch "$KERNEL_PACKAGE" || { echo "cannot get the kernel package $KERNEL_PACKAGE"; return 1; }
	grub_core || { echo "grub-mkimage failed"; return 1; }
	pick_watchdog

	# One initramfs base for both slots; a small archive appended per slot says what it is.
	local r=$T/initramfs
	initramfs_skeleton "$r" "$BUSYBOX" &&
		initramfs_add_program "$r" "$LB" &&
		initramfs_add_modules "$r" virtio_pci virtio_blk $WATCHDOG &&
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
	initramfs_pack "$r" "$T/base.cpio.gz" || return 1

	# p2 recovery: written once, as on a real card.
	slot_dir recovery "$T/p2" role=recovery slot=recovery version=1 || return 1
	ext4_image "$T/p2.img" 32 "$T/p2" recovery || return 1
	# p4 data: files the test then checks nobody touched.
	mkdir -p "$T/p4/log" "$T/p4/config"
	cp -r "$ROOT/docs" "$T/p4/config/"
	head -c 3M /dev/urandom >"$T/p4/log/blob"
	ext4_image "$T/p4.img" 8 "$T/p4" data || return 1
	# p1 and p3 start empty: every scenario writes its boot state and its main.
	truncate -s 8M "$T/p1.img" && truncate -s 32M "$T/p3.img" || return 1
	DISK=$T/disk.img
	disk_build "$DISK" "$T/p1.img" "$T/p2.img" "$T/p3.img" "$T/p4.img" && grub_install "$DISK"
}

# slot_dir ROLE DIR KEY=VALUE...: a slot's /boot (vmlinuz, initrd.img) in DIR.
slot_dir() {
	local dir=$2
	shift 2
	rm -rf "$dir" && mkdir -p "$dir/boot" || return 1
	cp "$KERNEL_IMAGE" "$dir/boot/vmlinuz" &&
		slot_config "$T/slot.cpio.gz" watchdog="$WATCHDOG" watchdog_args="$WATCHDOG_ARGS" "$@" &&
		cat "$T/base.cpio.gz" "$T/slot.cpio.gz" >"$dir/boot/initrd.img"
}

# install_main SCENARIO [corrupt]: a new main on p3 whose init does SCENARIO; "corrupt" puts
# garbage where its kernel should be.
install_main() {
	slot_dir main "$T/p3" role=main slot=main version=1 scenario="$1" || return 1
	[ "${2:-}" = corrupt ] && head -c 2M /dev/urandom >"$T/p3/boot/vmlinuz"
	ext4_image "$T/p3.img" 32 "$T/p3" main && part_write "$DISK" 3 "$T/p3.img"
}

# set_state VAR=VALUE...: a fresh boot partition (p1) whose grubenv, made by grub-editenv,
# holds these variables (none: an empty environment).
set_state() {
	local d=$T/p1
	rm -rf "$d" && mkdir -p "$d/boot/grub" || return 1
	cp "$ROOT/overlay/boot/grub/grub.cfg" "$d/boot/grub/grub.cfg" &&
		cp "$ROOT/overlay/boot/grub/lifeboat-board.cfg.example" "$d/boot/grub/lifeboat-board.cfg" &&
		grub-editenv "$d/boot/grub/grubenv" create || return 1
	[ $# -eq 0 ] || grub-editenv "$d/boot/grub/grubenv" set "$@" || return 1
	ext4_image "$T/p1.img" 8 "$d" boot && part_write "$DISK" 1 "$T/p1.img"
}

# env_list: the boot partition's grubenv as `grub-editenv list` prints it, read from the disk.
env_list() {
	part_cat "$DISK" 1 /boot/grub/grubenv >"$T/grubenv.read" && grub-editenv "$T/grubenv.read" list
}
# env_get VAR: one variable of it ("" when unset).
env_get() { env_list | sed -n "s/^$1=//p"; }

# attempt NAME [LIMIT]: one boot attempt of the disk.
attempt() {
	boot_attempt "$1" "${2:-$LIMIT}" qemu-system-x86_64 -machine pc -nodefaults \
		-drive "file=$DISK,format=raw,if=virtio" "${WATCHDOG_QEMU[@]}"
	echo "  $1: ${BOOT_SECONDS} s, exit $BOOT_RC, marker: $(boot_marker)" >>"$T/trace"
}

# ---- checks ----

ERRORS=()
# expect WHAT COMMAND...: records WHAT as a failure of the scenario unless COMMAND succeeds.
expect() {
	local what=$1
	shift
	"$@" >/dev/null 2>&1 || ERRORS+=("$what")
}
expect_marker() { # expect_marker SLOT [REASON]: the last attempt booted SLOT (and told it REASON)
	local m
	m=$(boot_marker)
	if [ -z "$m" ]; then
		ERRORS+=("${BOOT_LOG##*/}: no slot booted, expected $1 (console: $(boot_log_tail))")
	elif [ "$(boot_marker_field slot)" != "$1" ] || [ "$(boot_marker_field booted-as)" != "$1" ] ||
		{ [ $# -gt 1 ] && [ "$(boot_marker_field reason)" != "$2" ]; }; then
		ERRORS+=("${BOOT_LOG##*/}: expected $1${2:+ (reason $2)}, got: $m")
	fi
}
expect_no_marker() {
	[ -z "$(boot_marker)" ] || ERRORS+=("${BOOT_LOG##*/}: expected no slot to boot, got: $(boot_marker)")
}
expect_env() { # expect_env VAR VALUE
	local v
	v=$(env_get "$1")
	[ "$v" = "$2" ] || ERRORS+=("after ${BOOT_LOG##*/}: $1='$v', expected '$2'")
}
expect_not_killed() {
	[ "$BOOT_TIMED_OUT" = no ] || ERRORS+=("${BOOT_LOG##*/}: the host's time limit killed QEMU (console: $(boot_log_tail))")
}

# scenario NAME FUNCTION [NOTE]: runs one scenario, then prints its result with its wall time.
scenario() {
	local name=/boot/x86/$1 fn=$2 start
	ERRORS=()
	: >"$T/trace"
	start=$(now_us)
	"$fn"
	local secs
	secs=$(seconds_since "$start")
	if [ ${#ERRORS[@]} -eq 0 ]; then
		echo "ok $name # $secs s${NOTE:+; $NOTE}"
	else
		mkdir -p "$LOGS" && cp "$T"/console-*.log "$T/trace" "$LOGS/" 2>/dev/null
		fail "$name" "$(printf '%s; ' "${ERRORS[@]}")($secs s; consoles in ${LOGS#"$ROOT"/})"
		sed 's/^/# /' "$T/trace"
	fi
	NOTE=
}

# ---- scenarios ----

# A good main: GRUB counts the attempt (3 -> 2), main marks itself good (-> 3).
sc_normal() {
	install_main good && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=(setup); return; }
	attempt normal
	expect_marker main
	expect_not_killed
	expect "GRUB did not say it boots main with 2 attempts left" boot_log_has "lifeboat: booting main \(2 attempts left"
	expect "main did not see 2 attempts left before mark-good" boot_log_has '^LIFEBOAT-STATUS .*"attempts_left":2'
	expect "mark-good failed in the guest" boot_log_has '^LIFEBOAT-MARKED-GOOD'
	expect_env LB_main_LEFT $ATTEMPTS
	expect_env LB_ORDER "main recovery"
}

# main asks for the recovery: the next boot is the recovery (requested), the one after main.
sc_reboot_recovery() {
	install_main reboot-recovery && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=(setup); return; }
	attempt rr-1-main
	expect_marker main
	expect_not_killed
	expect "main did not run reboot-recovery" boot_log_has '^LIFEBOAT-REBOOT-RECOVERY'
	expect "main's reboot-recovery failed" boot_log_has 'the next boot goes to the recovery, once'
	expect_env LB_ONESHOT recovery
	attempt rr-2-recovery
	expect_marker recovery requested
	expect_not_killed
	expect_env LB_ONESHOT ""
	expect_env LB_main_LEFT $ATTEMPTS
	install_main good || ERRORS+=("reinstalling main")
	attempt rr-3-main
	expect_marker main
	expect_env LB_main_LEFT $ATTEMPTS
}

# failing_main NAME LIMIT: ATTEMPTS attempts of a main that never marks good, each one counted,
# then the recovery with attempts-exhausted.
failing_main() {
	local name=$1 limit=$2 i
	for i in $(seq 1 $ATTEMPTS); do
		attempt "$name-$i" "$limit"
		FAILED_ATTEMPT_CHECK "$i"
		expect_env LB_main_LEFT $((ATTEMPTS - i))
	done
	attempt "$name-$((ATTEMPTS + 1))-recovery"
	expect_marker recovery attempts-exhausted
	expect_not_killed
	expect_env LB_main_LEFT 0
}

# main's kernel cannot be loaded: GRUB counts the attempt and reboots.
sc_corrupt_kernel() {
	install_main good corrupt && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=(setup); return; }
	FAILED_ATTEMPT_CHECK() {
		expect_no_marker
		expect_not_killed
		expect "attempt $1: GRUB did not report the kernel as unloadable" boot_log_has "lifeboat: main could not be loaded; rebooting"
	}
	failing_main corrupt $LIMIT
}

# main's init exits: the kernel panics and reboots (panic=5 on the board's command line).
sc_panic() {
	install_main panic && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=(setup); return; }
	FAILED_ATTEMPT_CHECK() {
		expect_marker main
		expect_not_killed
		expect "attempt $1: no kernel panic" boot_log_has "Kernel panic - not syncing"
	}
	failing_main panic $LIMIT
}

# main hangs after arming the watchdog: the watchdog resets the machine.
sc_hang() {
	install_main hang && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=(setup); return; }
	FAILED_ATTEMPT_CHECK() {
		expect_marker main
		expect "attempt $1: main did not hang" boot_log_has "^LIFEBOAT-HANG"
		[ -n "$WATCHDOG" ] && expect_not_killed
	}
	local limit=$LIMIT
	[ -n "$WATCHDOG" ] || limit=$HANG_LIMIT
	failing_main hang $limit
	NOTE=$WATCHDOG_NOTE
}

# No main in the order, or an empty environment: the recovery, reason no-main.
sc_no_main() {
	set_state LB_ORDER=recovery LB_main_LEFT=0 || { ERRORS+=(setup); return; }
	attempt no-main-order
	expect_marker recovery no-main
	expect_not_killed
	set_state || { ERRORS+=(setup); return; }
	attempt no-main-empty-env
	expect_marker recovery no-main
	expect_not_killed
}

# The console logs of the last failed run stay here.
LOGS=$BOOT_CACHE/logs-x86
rm -rf "$LOGS"
start=$(now_us)
if ! setup >"$T/setup.log" 2>&1; then
	fail /boot/x86/setup "$(tail -n 3 "$T/setup.log" | tr '\n' ' ')"
	exit 1
fi
echo "ok /boot/x86/setup # $(seconds_since "$start") s; kernel $KERNEL_VERSION"
DATA_BEFORE=$(part_digest "$DISK" 4)

# BOOT_SCENARIOS="normal panic" runs some only.
for s in ${BOOT_SCENARIOS:-normal reboot-recovery corrupt-kernel panic hang no-main}; do
	scenario "$s" "sc_${s//-/_}"
done

if [ "$(part_digest "$DISK" 4)" = "$DATA_BEFORE" ]; then
	pass "/boot/x86/data-untouched # sha256 of p4 unchanged after all scenarios"
else
	fail /boot/x86/data-untouched "the data partition changed"
fi
echo "# /boot/x86: $(seconds_since "$SUITE_START") s in all"
