# Shared helpers for the real-boot tests, sourced instead of tests/lib.sh (which this sources:
# $T, $ROOT, $LB, pass/fail/skip and the cleanup come from there). One test per boot loader and
# architecture (x86-grub.sh; an aarch64 + U-Boot one can follow) builds a disk from partition
# images, boots it in QEMU once per boot attempt and reads the boot state back from the image
# on the host. Nothing here is specific to an architecture or a boot loader: the caller passes
# the kernel package, the busybox binary, the QEMU command and the partition layout, and
# defines how its boot state is read (env_get).
#
# Expensive artifacts (an extracted kernel package, a boot loader image) are cached under
# $BOOT_CACHE (build/boot-test/); everything else lives under $T and goes with the test. This
# is not a test itself: tests/run skips it.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

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

# kernel_fetch PACKAGE: a Debian kernel package, extracted once with dpkg-deb -x into
# $BOOT_CACHE/kernel-<package>/ (a meta package such as linux-image-cloud-amd64 is resolved to
# the versioned package it depends on). The .deb comes from apt's cache, else from
# `apt-get download`; an installed package without a .deb is copied from its file list.
# Sets KERNEL_DIR (the tree), KERNEL_MODULES (its [usr/]lib/modules/VERSION), KERNEL_VERSION and
# KERNEL_IMAGE (boot/vmlinuz-* or boot/vmlinux-*). The package is named with its architecture when
# foreign, e.g. linux-image-arm64:arm64.
kernel_fetch() {
	local pkg=$1 real dir deb
	real=$(apt-cache depends "$pkg" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	real=${real:-$pkg}
	dir=$BOOT_CACHE/kernel-${real%%:*}
	if [ ! -f "$dir/.complete" ]; then
		rm -rf "$dir" && mkdir -p "$dir" || return 1
		deb=$(ls /var/cache/apt/archives/"${real%%:*}"_*.deb 2>/dev/null | tail -n 1)
		if [ -z "$deb" ] && (cd "$BOOT_CACHE" && apt-get download -q "$real" >/dev/null 2>&1); then
			deb=$(ls "$BOOT_CACHE/${real%%:*}"_*.deb 2>/dev/null | tail -n 1)
		fi
		if [ -n "$deb" ]; then
			dpkg-deb -x "$deb" "$dir" || return 1
			case $deb in "$BOOT_CACHE"/*) rm -f "$deb" ;; esac
		elif dpkg-query -W -f '${Status}' "$real" 2>/dev/null | grep -q 'install ok installed'; then
			dpkg -L "$real" | while read -r f; do [ -f "$f" ] && cp --parents "$f" "$dir"; done
		else
			echo "kernel_fetch: no .deb of $real in apt's cache, no download, not installed" >&2
			return 1
		fi
		touch "$dir/.complete"
	fi
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

# initramfs_add_program DIR PROGRAM: the program in /bin and the shared libraries `ldd` lists for
# it, with the dynamic loader, at their own paths.
initramfs_add_program() {
	local dir=$1 prog=$2 lib
	cp "$prog" "$dir/bin/" || return 1
	for lib in $(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		cp -L --parents "$lib" "$dir" || return 1
	done
}

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

# ext4_image OUT MIB DIR [LABEL]: an ext4 file system of MIB MiB holding DIR, made without
# mounting.
ext4_image() {
	rm -f "$1" && truncate -s "$2M" "$1" && mkfs.ext4 -q -F -L "${4:-}" -d "$3" "$1" >/dev/null
}

# disk_build OUT PART...: an MBR disk from partition images, one "FILE" or "FILE:TYPE" each
# (sfdisk type, default 83), 1 MiB aligned, the first at 1 MiB (room for a boot loader behind
# the MBR). Each partition is its image's size rounded up to whole MiB.
disk_build() {
	local out=$1 spec file type start=2048 sectors table
	shift
	table="label: dos"$'\n'"label-id: 0x4c424f54"$'\n'"unit: sectors"$'\n'
	local files=() starts=()
	for spec; do
		file=${spec%%:*}
		type=83
		[ "$spec" != "$file" ] && type=${spec#*:}
		sectors=$((($(size_of "$file") + (1 << 20) - 1) / (1 << 20) * 2048))
		table+="start=$start, size=$sectors, type=$type"$'\n'
		files+=("$file")
		starts+=("$start")
		start=$((start + sectors))
	done
	rm -f "$out" && truncate -s $((start * 512)) "$out" || return 1
	printf '%s' "$table" | sfdisk --quiet --no-reread --no-tell-kernel "$out" >/dev/null || return 1
	local i
	for i in "${!files[@]}"; do
		dd if="${files[$i]}" of="$out" bs=1M seek=$((starts[i] * 512)) oflag=seek_bytes conv=notrunc,sparse \
			status=none || return 1
	done
}

# part_geometry DISK N: "START_BYTES SIZE_BYTES" of partition N.
part_geometry() {
	sfdisk --dump "$1" 2>/dev/null | awk -v n="$2" '
		/ : start=/ { i++; if (i == n) { gsub(/[=,]/, " "); for (f = 1; f <= NF; f++) {
			if ($f == "start") s = $(f + 1); if ($f == "size") z = $(f + 1) }
			print s * 512, z * 512; exit } }'
}

# part_extract DISK N OUT: partition N's bytes into OUT.
part_extract() {
	local start size
	read -r start size < <(part_geometry "$1" "$2") || return 1
	dd if="$1" of="$3" bs=1M skip="$start" count="$size" iflag=skip_bytes,count_bytes status=none
}

# part_write DISK N IMAGE: IMAGE over the start of partition N (the rest is left as it was).
part_write() {
	local start size
	read -r start size < <(part_geometry "$1" "$2") || return 1
	if [ "$(size_of "$3")" -gt "$size" ]; then
		echo "part_write: $3 is larger than partition $2 ($size bytes)" >&2
		return 1
	fi
	dd if="$3" of="$1" bs=1M seek="$start" oflag=seek_bytes conv=notrunc status=none
}

# part_digest DISK N: the SHA-256 of partition N, as hex.
part_digest() {
	local start size
	read -r start size < <(part_geometry "$1" "$2") || return 1
	dd if="$1" bs=1M skip="$start" count="$size" iflag=skip_bytes,count_bytes status=none |
		openssl dgst -sha256 -r | cut -c1-64
}

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
