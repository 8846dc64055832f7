# Shared helpers for the real-boot tests, sourced instead of tests/lib.sh (which this sources:
# $T, $ROOT, $LB, pass/fail/skip and the cleanup come from there). One test per boot loader and
# architecture (x86-grub.sh, arm64-uboot.sh) builds a disk from partition images, boots it in
# QEMU once per boot attempt and reads the boot state back from the image on the host. Nothing
# here is specific to an architecture or a boot loader: the caller passes the kernel package, the
# busybox binary, the QEMU command and the boot partition, and defines how its boot state is
# written and read (set_state, env_get); the scenarios every boot loader passes are here too.
#
# Expensive artifacts (an extracted kernel package, a boot loader image) are cached under
# $BOOT_CACHE (build/boot-test/); everything else lives under $T and goes with the test. This
# is not a test itself: tests/run skips it.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/disk.sh"

# BOOT_KEEP=1 keeps $T (disk images, console logs) for a look afterwards.
[ -n "${BOOT_KEEP:-}" ] && trap 'echo "# kept $T" >&2' EXIT

BOOT_CACHE=${BOOT_CACHE:-$ROOT/build/boot-test}
mkdir -p "$BOOT_CACHE"

# ---- time ----

now_us() { echo "${EPOCHREALTIME/./}"; }
# seconds_since START_US: wall time since START_US, as "12.3".
seconds_since() { awk -v d=$(($(now_us) - $1)) 'BEGIN { printf "%.1f", d / 1e6 }'; }

# need COMMAND...: true when every command exists; otherwise MISSING names the first absent one.
need() {
	local c
	for c; do command -v "$c" >/dev/null 2>&1 || { MISSING=$c; return 1; }; done
}

# cached KEY FILE: true when FILE exists and was made for KEY (FILE.key holds the key). After
# making FILE, `cached_done KEY FILE` records it.
cached() { [ -s "$2" ] && [ "$(cat "$2.key" 2>/dev/null)" = "$1" ]; }
cached_done() { echo "$1" >"$2.key"; }

# ---- kernels ----

# deb_fetch PACKAGE DIR: a Debian package extracted once with dpkg-deb -x into DIR (DIR/.complete
# marks it done). The .deb comes from apt's cache, else from `apt-get download`; an installed
# package without a .deb is copied from its file list. The package is named with its
# architecture when foreign, e.g. busybox-static:arm64 (which needs that architecture in dpkg's
# list and apt's lists: scripts/install-deps).
deb_fetch() {
	local pkg=$1 dir=$2 name=${1%%:*} arch deb
	arch=${1#"$name"}
	arch=${arch#:}
	arch=${arch:-$(dpkg --print-architecture)}
	[ -f "$dir/.complete" ] && return 0
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	deb=$(ls /var/cache/apt/archives/"${name}"_*_{"$arch",all}.deb 2>/dev/null | tail -n 1)
	if [ -z "$deb" ] && (cd "$BOOT_CACHE" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		deb=$(ls "$BOOT_CACHE/${name}"_*_{"$arch",all}.deb 2>/dev/null | tail -n 1)
	fi
	if [ -n "$deb" ]; then
		dpkg-deb -x "$deb" "$dir" || return 1
		case $deb in "$BOOT_CACHE"/*) rm -f "$deb" ;; esac
	elif dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		dpkg -L "$pkg" | while read -r f; do [ -f "$f" ] && cp --parents "$f" "$dir"; done
	else
		echo "deb_fetch: no .deb of $pkg in apt's cache, no download, not installed" >&2
		return 1
	fi
	touch "$dir/.complete"
}

# kernel_fetch PACKAGE: a Debian kernel package, extracted once (deb_fetch) into
# $BOOT_CACHE/kernel-<package>/ (a meta package such as linux-image-cloud-amd64 is resolved to
# the versioned package it depends on).
# Sets KERNEL_DIR (the tree), KERNEL_MODULES (its [usr/]lib/modules/VERSION), KERNEL_VERSION and
# KERNEL_IMAGE (boot/vmlinuz-* or boot/vmlinux-*). The package is named with its architecture when
# foreign, e.g. linux-image-arm64:arm64.
kernel_fetch() {
	local pkg=$1 real dir
	real=$(apt-cache depends "$pkg" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	real=${real:-$pkg}
	case $pkg in *:*) real=${real%%:*}:${pkg#*:} ;; esac
	dir=$BOOT_CACHE/kernel-${real%%:*}
	deb_fetch "$real" "$dir" || return 1
	KERNEL_DIR=$dir
	KERNEL_MODULES=$(ls -d "$dir"/lib/modules/* "$dir"/usr/lib/modules/* 2>/dev/null | head -n 1)
	KERNEL_VERSION=${KERNEL_MODULES##*/}
	KERNEL_IMAGE=$(ls "$dir"/boot/vmlinuz-* "$dir"/boot/vmlinux-* 2>/dev/null | head -n 1)
	[ -n "$KERNEL_IMAGE" ] && [ -n "$KERNEL_VERSION" ]
}

# kernel_config OPTION: the value of CONFIG_OPTION in the fetched kernel ("y", "m" or empty).
kernel_config() { sed -n "s/^CONFIG_$1=//p" "$KERNEL_DIR/boot/config-$KERNEL_VERSION" 2>/dev/null; }

# kernel_module_path NAME: the fetched kernel's module file for NAME (- and _ alike), if any.
kernel_module_path() {
	find "$KERNEL_MODULES" -name "${1//[-_]/[-_]}.ko*" 2>/dev/null | head -n 1
}

# kernel_modules_ordered NAME...: the modules' names with their dependencies, each after what
# it depends on (from modinfo, so that no depmod run on the tree is needed). Modules built into
# the kernel, or absent, are left out.
kernel_modules_ordered() {
	local -A seen=()
	local ordered=()
	_visit() {
		local name=${1//-/_} file dep
		[ -n "${seen[$name]:-}" ] && return
		seen[$name]=1
		file=$(kernel_module_path "$name")
		[ -n "$file" ] || return 0
		for dep in $(modinfo -F depends "$file" 2>/dev/null | tr ',' ' '); do _visit "$dep"; done
		ordered+=("$name")
	}
	local m
	for m; do _visit "$m"; done
	printf '%s\n' "${ordered[@]}"
}

# ---- initramfs ----

# initramfs_skeleton DIR BUSYBOX: a root with a static busybox and a link for every applet.
initramfs_skeleton() {
	local dir=$1 busybox=$2 applet
	mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,mnt,run,tmp,lib/modules} || return 1
	cp "$busybox" "$dir/bin/busybox" || return 1
	# --list-full needs a busybox that runs here; a foreign one gets the applets the init uses.
	if "$dir/bin/busybox" --list-full >"$T/applets" 2>/dev/null; then
		while read -r applet; do
			[ -e "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
		done <"$T/applets"
	else
		for applet in sh mount umount sleep cat sed tr tail insmod poweroff reboot mkdir; do
			ln -sf busybox "$dir/bin/$applet"
		done
	fi
}

# initramfs_add_program DIR PROGRAM: the program in /bin and the shared libraries it needs, with
# the dynamic loader, at their own paths. For this machine's architecture that is what `ldd`
# lists; for a foreign one (a cross-built program) the ELF's interpreter and its NEEDED entries,
# followed recursively, found in the Debian multiarch directories of that architecture
# (/usr/lib/<triplet>, from the :ARCH packages such as libzstd-dev:arm64).
initramfs_add_program() {
	local dir=$1 prog=$2 lib
	cp "$prog" "$dir/bin/" || return 1
	if [ "$(elf_machine "$prog")" = "$(elf_machine /bin/sh)" ]; then
		for lib in $(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			cp -L --parents "$lib" "$dir" || return 1
		done
		return 0
	fi
	local triplet interp
	case $(elf_machine "$prog") in
	AArch64) triplet=aarch64-linux-gnu ;;
	ARM) triplet=arm-linux-gnueabihf ;;
	RISC-V) triplet=riscv64-linux-gnu ;;
	*) echo "initramfs_add_program: no multiarch directory for $(elf_machine "$prog")" >&2; return 1 ;;
	esac
	interp=$(readelf -l "$prog" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	if [ -n "$interp" ]; then
		cp -L --parents "$interp" "$dir" || return 1
	fi
	local -A seen=()
	local todo=("$prog") file name found d
	while [ ${#todo[@]} -gt 0 ]; do
		file=${todo[0]}
		todo=("${todo[@]:1}")
		for name in $(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -n "${seen[$name]:-}" ] && continue
			seen[$name]=1
			found=
			for d in /lib/$triplet /usr/lib/$triplet; do
				[ -e "$d/$name" ] && { found=$d/$name; break; }
			done
			[ -n "$found" ] || { echo "initramfs_add_program: $name (for $file) not in /usr/lib/$triplet" >&2; return 1; }
			# The loader is already there under its own name; libraries go to /lib/<triplet>,
			# which the foreign loader searches.
			mkdir -p "$dir/lib/$triplet" && cp -L "$found" "$dir/lib/$triplet/$name" || return 1
			todo+=("$found")
		done
	done
}

# elf_machine FILE: the ELF header's machine, as readelf names it ("AArch64", "Advanced Micro
# Devices X86-64").
elf_machine() { readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }

# initramfs_add_modules DIR NAME...: the fetched kernel's modules (with their dependencies) as
# /lib/modules/NAME.ko (uncompressed, for busybox insmod), and /etc/modules-load listing them in
# load order for the init.
initramfs_add_modules() {
	local dir=$1 name file
	shift
	: >"$dir/etc/modules-load"
	for name in $(kernel_modules_ordered "$@"); do
		file=$(kernel_module_path "$name")
		case $file in
		*.ko.xz) xz -dc "$file" ;;
		*.ko.zst) zstd -qdc "$file" ;;
		*.ko.gz) gzip -dc "$file" ;;
		*) cat "$file" ;;
		esac >"$dir/lib/modules/$name.ko" || return 1
		echo "$name" >>"$dir/etc/modules-load"
	done
}

# initramfs_pack DIR OUT: a gzip-compressed newc archive of DIR, owned by root. Archives can be
# concatenated: the kernel unpacks them one after the other, later files winning.
initramfs_pack() {
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$2"
}

# initramfs_write_init DIR: the test slots' /init. It mounts /proc, /sys and /dev, loads the
# modules of /etc/modules-load, prints a marker line on the console and then does what
# /etc/lifeboat-test says (a shell fragment, see slot_config):
#   role=recovery              print the marker (with lifeboat.reason=) and power off
#   scenario=good              mount the boot partition, `lifeboat mark-good`, power off
#   scenario=reboot-recovery   mark good, then `lifeboat reboot-recovery` (which reboots)
#   scenario=panic             exit: the kernel panics (panic=N on the command line reboots)
#   scenario=hang              arm the watchdog ($watchdog: its driver, loaded with
#                              $watchdog_args unless built in) and sleep forever
# Every line the checks look for starts with "LIFEBOAT-".
initramfs_write_init() {
	cat >"$1/init" <<'INIT'
#!/bin/sh
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
role=main scenario= slot=unknown version=0 watchdog= watchdog_args= boot_dev=/dev/vda1 boot_fstype=ext4
. /etc/lifeboat-test
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
for m in $(cat /etc/modules-load 2>/dev/null); do
	case $m in "$watchdog") continue ;; esac # loaded only when armed
	insmod /lib/modules/$m.ko || echo "LIFEBOAT-ERROR insmod $m"
done
echo "LIFEBOAT-MARKER slot=$slot version=$version booted-as=$(arg lifeboat.slot) reason=$(arg lifeboat.reason) scenario=${scenario:--}"

die() { echo "LIFEBOAT-ERROR $*"; poweroff -f; }
mount_boot() {
	i=0
	while [ ! -b "$boot_dev" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	mkdir -p /mnt && mount -t "$boot_fstype" "$boot_dev" /mnt || die "cannot mount $boot_dev"
}
lb() { lifeboat "$@" --config /etc/lifeboat/lifeboat.conf; }

if [ "$role" = recovery ]; then
	poweroff -f
fi
case $scenario in
good)
	mount_boot
	echo "LIFEBOAT-STATUS $(lb status --json)"
	lb mark-good && echo "LIFEBOAT-MARKED-GOOD" || echo "LIFEBOAT-ERROR mark-good failed"
	echo "LIFEBOAT-STATUS $(lb status --json)"
	umount /mnt
	poweroff -f ;;
reboot-recovery)
	mount_boot
	lb mark-good && echo "LIFEBOAT-MARKED-GOOD" || echo "LIFEBOAT-ERROR mark-good failed"
	echo "LIFEBOAT-REBOOT-RECOVERY"
	lb reboot-recovery
	die "reboot-recovery returned" ;;
panic)
	echo "LIFEBOAT-PANIC init exits"
	exit 1 ;;
hang)
	if [ -n "$watchdog" ]; then
		if [ -f /lib/modules/$watchdog.ko ]; then # else built into the kernel
			insmod /lib/modules/$watchdog.ko $watchdog_args || die "insmod $watchdog"
		fi
		i=0
		while [ ! -c /dev/watchdog ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		exec 3>/dev/watchdog || die "cannot open /dev/watchdog"
	fi
	echo "LIFEBOAT-HANG watchdog=${watchdog:-none}"
	while :; do sleep 3600; done ;;
*)
	die "unknown scenario $scenario" ;;
esac
INIT
	chmod 755 "$1/init"
}

# slot_config OUT.cpio.gz KEY=VALUE...: a small archive with /etc/lifeboat-test (the lines
# given), to append to a slot's base initramfs; keys: role, slot, version, scenario, watchdog,
# watchdog_args, boot_dev, boot_fstype.
slot_config() {
	local out=$1 d
	shift
	d=$(mktemp -d "$T/slotcfg-XXXXXX")
	mkdir -p "$d/etc"
	printf '%s\n' "$@" | sed "s/=\(.*\)/='\1'/" >"$d/etc/lifeboat-test"
	initramfs_pack "$d" "$out"
	rm -rf "$d"
}

# ---- file systems and disks ----

# ext4_image, disk_build, part_geometry, part_extract, part_write, part_digest: scripts/lib/disk.sh

# part_cat DISK N PATH: a file from partition N (ext2/3/4 through debugfs, FAT through mtools),
# read from a copy of the partition: nothing is mounted.
part_cat() {
	local p=$T/.part-$2 fstype
	part_extract "$1" "$2" "$p" || return 1
	fstype=$(blkid -p -o value -s TYPE "$p" 2>/dev/null)
	case $fstype in
	ext2 | ext3 | ext4) debugfs -R "cat $3" "$p" 2>/dev/null ;;
	vfat) mtype -i "$p" "::$3" ;;
	*) echo "part_cat: partition $2 has file system '${fstype:-none}'" >&2; return 1 ;;
	esac
	local rc=$?
	rm -f "$p"
	return $rc
}

# ---- running a boot attempt ----

# boot_attempt NAME LIMIT_S QEMU_COMMAND...: one boot attempt. The guest's reset ends QEMU
# (-no-reboot), so one run is one attempt; the host kills it after LIMIT_S seconds. The serial
# console goes to $BOOT_LOG ($T/console-NAME.log), a summary line to $T/attempts. Sets BOOT_RC
# (QEMU's exit status, 124 when the time limit killed it), BOOT_SECONDS and BOOT_TIMED_OUT
# (yes/no). The caller's command names the machine, firmware, disk and devices; this adds TCG,
# memory, no display and the console.
boot_attempt() {
	local name=$1 limit=$2 start
	shift 2
	BOOT_LOG=$T/console-$name.log
	start=$(now_us)
	timeout --kill-after=5 "$limit" "$@" -accel tcg -m "${BOOT_MEMORY:-256}" -no-reboot -display none \
		-monitor none -serial "file:$BOOT_LOG" </dev/null >"$T/qemu-$name.out" 2>&1
	BOOT_RC=$?
	BOOT_SECONDS=$(seconds_since "$start")
	BOOT_TIMED_OUT=no
	[ $BOOT_RC -eq 124 ] || [ $BOOT_RC -eq 137 ] && BOOT_TIMED_OUT=yes
	[ -f "$BOOT_LOG" ] || : >"$BOOT_LOG"
	echo "$name: $BOOT_SECONDS s, exit $BOOT_RC$([ $BOOT_TIMED_OUT = yes ] && echo ' (time limit)'), $(boot_marker)" \
		>>"$T/attempts"
	return 0
}

# boot_log_text: the last attempt's console without carriage returns and terminal escapes
# (GRUB clears the screen before its first line).
boot_log_text() { sed 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' "$BOOT_LOG"; }

# boot_marker: the marker line of the last attempt ("" when no slot's init ran).
boot_marker() { boot_log_text | grep -a -m1 '^LIFEBOAT-MARKER '; }

# boot_marker_field KEY: a field of the last attempt's marker, e.g. boot_marker_field slot.
boot_marker_field() { boot_marker | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# boot_log_has REGEX: the last attempt's console has a line matching REGEX (extended).
boot_log_has() { boot_log_text | grep -aE "$1" >/dev/null; } # no -q: sed must not die of SIGPIPE

# boot_log_tail: the end of the last attempt's console, on one line, for failure messages.
boot_log_tail() { boot_log_text | grep -av '^\s*$' | tail -n 4 | cut -c1-160 | tr '\n' '|'; }

# ---- scenarios ----
#
# A scenario is a function sc_NAME (dashes in NAME become underscores) that sets up the disk
# $DISK, runs boot attempts and records what went wrong with the expect_* helpers below. Each
# runs in a subshell with its own $T and its own copy of the disk, so scenarios can run side by
# side; it may set NOTE, which follows its time on the "ok" line. The caller defines
# `env_get VAR` (the boot state's variable as read back from $DISK) for expect_env.

# run_scenarios PREFIX NAME...: runs sc_NAME for each NAME, at most $BOOT_JOBS at a time, and
# prints "ok PREFIX/NAME # SECONDS s[; NOTE]" or "FAIL PREFIX/NAME: what (SECONDS s)" in the
# order given; BOOT_FAILED counts the failed ones. A failed scenario's console logs are kept
# in $BOOT_LOGS/NAME/. With $BOOT_DATA_PART set, each scenario leaves that partition's SHA-256
# (as its disk ends) in $T/sc-NAME/data-digest.
run_scenarios() {
	local prefix=$1 name pids=() i
	shift
	for name; do
		while [ "$(jobs -rp | wc -l)" -ge "${BOOT_JOBS:-1}" ]; do wait -n; done
		(run_scenario "$prefix" "$name") >"$T/sc-$name.result" 2>&1 &
		pids+=($!)
	done
	i=0
	for name; do
		wait "${pids[$i]}" 2>/dev/null
		cat "$T/sc-$name.result"
		grep -q '^ok ' "$T/sc-$name.result" || BOOT_FAILED=$((${BOOT_FAILED:-0} + 1))
		i=$((i + 1))
	done
}

run_scenario() {
	local prefix=$1 name=$2 start secs
	T=$T/sc-$name
	mkdir -p "$T" && cp --sparse=always "$DISK" "$T/disk.img" || { fail "$prefix/$name" "cannot copy the disk"; return; }
	DISK=$T/disk.img
	ERRORS=()
	NOTE=
	: >"$T/attempts"
	start=$(now_us)
	if declare -F "sc_${name//-/_}" >/dev/null; then
		"sc_${name//-/_}"
	else
		ERRORS+=("no such scenario")
	fi
	secs=$(seconds_since "$start")
	[ -n "${BOOT_DATA_PART:-}" ] && part_digest "$DISK" "$BOOT_DATA_PART" >"$T/data-digest"
	if [ ${#ERRORS[@]} -eq 0 ]; then
		echo "ok $prefix/$name # $secs s${NOTE:+; $NOTE}"
	else
		if [ -n "${BOOT_LOGS:-}" ]; then
			mkdir -p "$BOOT_LOGS/$name" && cp "$T"/console-*.log "$T/attempts" "$BOOT_LOGS/$name/" 2>/dev/null
		fi
		fail "$prefix/$name" "$(printf '%s; ' "${ERRORS[@]}")($secs s${BOOT_LOGS:+; consoles in ${BOOT_LOGS#"$ROOT"/}/$name})"
	fi
	[ -n "${BOOT_KEEP:-}" ] || rm -f "$DISK"
}

# attempt_name: the name of the last boot attempt ("setup" before the first).
attempt_name() {
	local l=${BOOT_LOG:-setup}
	l=${l##*/console-}
	echo "${l%.log}"
}

# expect WHAT COMMAND...: WHAT is a failure of the scenario unless COMMAND succeeds.
expect() {
	local what=$1
	shift
	"$@" >/dev/null 2>&1 || ERRORS+=("$what")
}

# expect_marker SLOT [REASON]: the last attempt booted SLOT's init, which the boot loader
# booted as SLOT (lifeboat.slot=) and, with REASON, told lifeboat.reason=REASON.
expect_marker() {
	local m
	m=$(boot_marker)
	if [ -z "$m" ]; then
		ERRORS+=("$(attempt_name): no slot booted, expected $1 (console: $(boot_log_tail))")
	elif [ "$(boot_marker_field slot)" != "$1" ] || [ "$(boot_marker_field booted-as)" != "$1" ] ||
		{ [ $# -gt 1 ] && [ "$(boot_marker_field reason)" != "$2" ]; }; then
		ERRORS+=("$(attempt_name): expected $1${2:+ (reason $2)}, got: $m")
	fi
}

# expect_no_marker: no slot's init ran in the last attempt.
expect_no_marker() {
	[ -z "$(boot_marker)" ] || ERRORS+=("$(attempt_name): expected no slot to boot, got: $(boot_marker)")
}

# expect_log REGEX WHAT: the last attempt's console has a line matching REGEX; else WHAT failed.
expect_log() {
	boot_log_has "$1" || ERRORS+=("$(attempt_name): $2")
}

# expect_not_killed: the last attempt ended by itself (power-off or reset), not by the time limit.
expect_not_killed() {
	[ "$BOOT_TIMED_OUT" = no ] || ERRORS+=("$(attempt_name): the host's time limit killed QEMU (console: $(boot_log_tail))")
}

# expect_env VAR VALUE: the boot state read back from the disk has VAR=VALUE ("" for unset).
expect_env() {
	local v
	v=$(env_get "$1")
	[ "$v" = "$2" ] || ERRORS+=("after $(attempt_name): $1='$v', expected '$2'")
}

# ---- the layout and the scenarios every boot loader passes ----
#
# The disk is laid out as `make sdcard` lays it out: 1 boot, 2 recovery, 3 main, 4 data (MBR).
# The caller's setup makes $BASE_INITRD (initramfs_skeleton + initramfs_add_program + modules +
# initramfs_write_init + its lifeboat.conf, packed) and sets SLOT_KERNEL (the kernel image as
# its boot loader loads it; default $KERNEL_IMAGE), WATCHDOG and WATCHDOG_ARGS (pick_watchdog),
# SLOT_MIB (the size of the recovery's and main's file systems; default 32), then calls
# slots_build. It defines:
#   attempt NAME [LIMIT]     one boot attempt of $DISK (boot_attempt with its QEMU command)
#   set_state VAR=VALUE...   a fresh boot partition whose boot state holds exactly these
#                            variables (none: an intact, empty state)
#   env_get VAR              VAR of the boot state, read back from $DISK on the host
# and the knobs ATTEMPTS (what an install and mark-good give main), LIMIT and HANG_LIMIT (seconds
# a boot attempt may take, with and without a watchdog in the guest) and WATCHDOG_NOTE.

# slot_dir DIR KEY=VALUE...: a slot's /boot in DIR: the kernel and the initramfs, told KEY=VALUE.
slot_dir() {
	local dir=$1
	shift
	rm -rf "$dir" && mkdir -p "$dir/boot" || return 1
	cp "${SLOT_KERNEL:-$KERNEL_IMAGE}" "$dir/boot/vmlinuz" &&
		slot_config "$T/slot.cpio.gz" watchdog="${WATCHDOG:-}" watchdog_args="${WATCHDOG_ARGS:-}" "$@" &&
		cat "$BASE_INITRD" "$T/slot.cpio.gz" >"$dir/boot/initrd.img"
}

# slots_build: the partition images $T/p2.img (the recovery, written once as on a real card; its
# init gets the KEY=VALUE lines of SLOT_EXTRA too, e.g. boot_fstype=vfat), $T/p4.img (data: files
# nobody may touch), and empty $T/p3.img (main: each scenario installs its own) for disk_build.
slots_build() {
	slot_dir "$T/p2" role=recovery slot=recovery version=1 ${SLOT_EXTRA[@]+"${SLOT_EXTRA[@]}"} || return 1
	ext4_image "$T/p2.img" "${SLOT_MIB:-32}" "$T/p2" recovery || return 1
	mkdir -p "$T/p4/log" "$T/p4/config"
	cp -r "$ROOT/docs" "$T/p4/config/"
	head -c 3M /dev/urandom >"$T/p4/log/blob"
	ext4_image "$T/p4.img" 8 "$T/p4" data || return 1
	rm -f "$T/p3.img" && truncate -s "${SLOT_MIB:-32}M" "$T/p3.img"
}

# install_main SCENARIO [corrupt]: a new main on p3 whose init does SCENARIO (see
# initramfs_write_init); "corrupt" puts 2 MiB of garbage where its kernel should be.
install_main() {
	slot_dir "$T/p3" role=main slot=main version=1 scenario="$1" ${SLOT_EXTRA[@]+"${SLOT_EXTRA[@]}"} || return 1
	[ "${2:-}" = corrupt ] && head -c 2M /dev/urandom >"$T/p3/boot/vmlinuz"
	ext4_image "$T/p3.img" "${SLOT_MIB:-32}" "$T/p3" main && part_write "$DISK" 3 "$T/p3.img"
}

# fresh_main SCENARIO [corrupt]: main installed and activated, as after an install.
fresh_main() {
	install_main "$@" && set_state "LB_ORDER=main recovery" LB_main_LEFT=$ATTEMPTS || { ERRORS+=("setup failed"); return 1; }
}

# 1. A good main: the boot loader counts the attempt (3 -> 2), main marks itself good (-> 3).
sc_normal() {
	fresh_main good || return
	attempt normal
	expect_marker main
	expect_not_killed
	expect_log "^lifeboat: booting main \(2 attempts left" "the boot loader did not say it boots main with 2 attempts left"
	expect_log '^LIFEBOAT-STATUS .*"attempts_left":2' "main did not see 2 attempts left before mark-good"
	expect_log '^LIFEBOAT-MARKED-GOOD' "mark-good failed in the guest"
	expect_env LB_main_LEFT $ATTEMPTS
	expect_env LB_ORDER "main recovery"
	expect_env LB_ONESHOT ""
}

# 2. main marks good and asks for the recovery: the next boot is the recovery (requested), the
# one after that main again.
sc_reboot_recovery() {
	fresh_main reboot-recovery || return
	attempt rr-1-main
	expect_marker main
	expect_not_killed
	expect_log "the next boot goes to the recovery, once" "main's lifeboat reboot-recovery failed"
	expect_env LB_ONESHOT recovery
	attempt rr-2-recovery
	expect_marker recovery requested
	expect_not_killed
	expect_env LB_ONESHOT ""
	expect_env LB_main_LEFT $ATTEMPTS
	install_main good || ERRORS+=("installing the next main failed")
	attempt rr-3-main
	expect_marker main
	expect_not_killed
	expect_env LB_main_LEFT $ATTEMPTS
}

# ATTEMPTS attempts of a main that never marks good, each counted (check_failed_attempt I
# checks attempt I), then the recovery with reason attempts-exhausted.
failing_main() {
	local name=$1 limit=$2 i
	for i in $(seq 1 $ATTEMPTS); do
		attempt "$name-$i" "$limit"
		check_failed_attempt "$i"
		expect_env LB_main_LEFT $((ATTEMPTS - i))
	done
	attempt "$name-$((ATTEMPTS + 1))-recovery"
	expect_marker recovery attempts-exhausted
	expect_not_killed
	expect_env LB_main_LEFT 0
	expect_env LB_ORDER "main recovery"
}

# 3. main's kernel cannot be loaded: the boot loader has counted the attempt and resets.
sc_corrupt_kernel() {
	fresh_main good corrupt || return
	check_failed_attempt() {
		expect_no_marker
		expect_not_killed
		expect_log "^lifeboat: main could not be loaded" "attempt $1: the boot loader did not reject the kernel"
	}
	failing_main corrupt $LIMIT
}

# 4. main's init exits: the kernel panics and reboots (panic=5 on the board's command line).
sc_panic() {
	fresh_main panic || return
	check_failed_attempt() {
		expect_marker main
		expect_not_killed
		expect_log "Kernel panic - not syncing" "attempt $1: no kernel panic"
	}
	failing_main panic $LIMIT
}

# 5. main hangs after arming the watchdog, which resets the machine; without one, the host's
# time limit stands in for the reset.
sc_hang() {
	fresh_main hang || return
	check_failed_attempt() {
		expect_marker main
		expect_log "^LIFEBOAT-HANG" "attempt $1: main did not reach its hang"
		if [ -n "$WATCHDOG" ]; then
			expect_not_killed
		elif [ "$BOOT_TIMED_OUT" = no ]; then
			ERRORS+=("$(attempt_name): QEMU ended before the time limit without a watchdog")
		fi
	}
	failing_main hang "$([ -n "$WATCHDOG" ] && echo $LIMIT || echo $HANG_LIMIT)"
	NOTE=$WATCHDOG_NOTE
}

# 7. No main: out of the order (as the installer leaves it while writing), or a fresh card's
# empty environment. The recovery boots with reason no-main.
sc_no_main() {
	set_state LB_ORDER=recovery LB_main_LEFT=0 || { ERRORS+=("setup failed"); return; }
	attempt no-main-order
	expect_marker recovery no-main
	expect_not_killed
	set_state || { ERRORS+=("setup failed"); return; }
	attempt no-main-empty-env
	expect_marker recovery no-main
	expect_not_killed
}

# boot_suite PREFIX SCENARIO...: the whole test: `setup` (the caller's; its output goes to
# $T/setup.log, SETUP_NOTE follows the time on its line), the scenarios ($BOOT_SCENARIOS when
# set), and 6.: the data partition ($BOOT_DATA_PART) byte for byte what it was on every
# scenario's disk. Returns non-zero when anything failed.
boot_suite() {
	local prefix=$1 start s changed=() total scenarios
	shift
	rm -rf "$BOOT_LOGS"
	start=$(now_us)
	if ! setup >"$T/setup.log" 2>&1; then
		fail "$prefix/setup" "$(tail -n 3 "$T/setup.log" | tr '\n' ' ')"
		return 1
	fi
	echo "ok $prefix/setup # $(seconds_since "$start") s; kernel $KERNEL_VERSION; scenarios side by side: $BOOT_JOBS${SETUP_NOTE:+; $SETUP_NOTE}"
	DATA_BEFORE=$(part_digest "$DISK" $BOOT_DATA_PART)
	scenarios=${BOOT_SCENARIOS:-$*}
	run_scenarios "$prefix" $scenarios
	for s in $scenarios; do
		[ "$(cat "$T/sc-$s/data-digest" 2>/dev/null)" = "$DATA_BEFORE" ] || changed+=("$s")
	done
	total="the whole suite: $(seconds_since "$SUITE_START") s"
	if [ ${#changed[@]} -eq 0 ]; then
		pass "$prefix/data-untouched # sha256 of p4 the same after every scenario; $total"
	else
		fail "$prefix/data-untouched" "p4 changed (or was not read) in: ${changed[*]}; $total"
		BOOT_FAILED=$((${BOOT_FAILED:-0} + 1))
	fi
	[ "${BOOT_FAILED:-0}" -eq 0 ]
}

# ---- the watchdog a hung main arms ----

# QEMU's i6300esb when the kernel has its driver; else the kernel's softdog module (the
# guest resets itself when its userspace hangs); else none, and the host's time limit stands in
# for the reset. WATCHDOG_NOTE says which on the hang scenario's line.
# pick_watchdog QEMU_BINARY
pick_watchdog() {
	local reset=(-action watchdog=reset) # QEMU before 6.0: -watchdog-action reset
	[[ $("$1" -help) == *$'\n-action '* ]] || reset=(-watchdog-action reset)
	WATCHDOG='' WATCHDOG_ARGS='' WATCHDOG_QEMU=() WATCHDOG_NOTE=''
	if [ -n "$(kernel_module_path i6300esb)" ]; then
		WATCHDOG=i6300esb WATCHDOG_ARGS="heartbeat=2" WATCHDOG_QEMU=(-device i6300esb "${reset[@]}")
		WATCHDOG_NOTE="watchdog: QEMU i6300esb reset"
	elif [ "$(kernel_config I6300ESB_WDT)" = y ]; then # its default heartbeat: 30 s
		WATCHDOG=i6300esb WATCHDOG_QEMU=(-device i6300esb "${reset[@]}")
		WATCHDOG_NOTE="watchdog: QEMU i6300esb reset"
	elif [ -n "$(kernel_module_path softdog)" ]; then
		WATCHDOG=softdog WATCHDOG_ARGS="soft_margin=3"
		WATCHDOG_NOTE="watchdog: the guest's softdog reset ($KERNEL_VERSION has no i6300esb driver)"
	else
		WATCHDOG_NOTE="no watchdog driver in $KERNEL_VERSION: the host's time limit killed QEMU as the reset"
	fi
}
