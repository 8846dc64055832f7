# Disk images from partition images, made without mounting or loop devices: file systems in
# files (ext4 by mkfs.ext4 -d, FAT by mkfs.vfat and mtools), an MBR partition table by sfdisk,
# partitions placed with dd; GRUB embedded behind the MBR, or U-Boot's pieces (the boot script,
# the boot state pair, QEMU's firmware flash). Sourced by scripts/make-sdcard and by the
# real-boot tests (tests/boot/lib.sh), so that the card the tests boot is assembled the way the
# card a user flashes is.
#
# Functions return non-zero on failure and print why on stderr; nothing here exits.

# disk_size_of FILE: its size in bytes.
disk_size_of() { stat -c %s "$1"; }

# ext4_image OUT MIB DIR [LABEL]: an ext4 file system of MIB MiB holding DIR. With
# SOURCE_DATE_EPOCH set, the file system's own times come from it (E2FSPROGS_FAKE_TIME), and
# EXT4_UUID fixes its UUID and hash seed; the files keep DIR's times, change times included
# (mkfs.ext4 -d copies them), so byte-identical output also needs those fixed afterwards, as
# scripts/build-example-main does with debugfs.
ext4_image() {
	local opts=(-q -F -L "${4:-}") env=()
	[ -z "${EXT4_UUID:-}" ] || opts+=(-U "$EXT4_UUID" -E "hash_seed=$EXT4_UUID")
	[ -z "${SOURCE_DATE_EPOCH:-}" ] || env=("E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH")
	rm -f "$1" && truncate -s "$2M" "$1" && env "${env[@]}" mkfs.ext4 "${opts[@]}" -d "$3" "$1" >/dev/null
}

# fat_image OUT MIB DIR [LABEL]: a FAT16 file system of MIB MiB (at most 2048) holding DIR's
# files and directories, copied in with mtools (mcopy keeps their modification times). Its MBR
# partition type is "e" (FAT16, LBA) for disk_build.
fat_image() { fat_fs 16 "$@"; }

# fat32_image OUT MIB DIR [LABEL]: the same as FAT32 (MBR type "c", FAT32 LBA), what the
# Raspberry Pi firmware expects of its boot partition. Below about 33 MiB FAT32 has fewer
# clusters than its minimum (mkfs.vfat only warns): callers keep MIB at 64 or more.
fat32_image() { fat_fs 32 "$@"; }

# fat_fs BITS OUT MIB DIR [LABEL]: fat_image and fat32_image.
fat_fs() {
	local bits=$1 out=$2 mib=$3 dir=$4 files
	rm -f "$out" && mkfs.vfat -C -F "$bits" ${5:+-n "$5"} "$out" $((mib * 1024)) >/dev/null || return 1
	files=("$dir"/*)
	[ -e "${files[0]}" ] || return 0
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -Q -i "$out" "${files[@]}" ::
}

# disk_build OUT PART...: an MBR disk from partition images, one "FILE" or "FILE:TYPE" each
# (sfdisk type, default 83), 1 MiB aligned, the first at 1 MiB (room for a boot loader behind
# the MBR). Each partition is its image's size rounded up to whole MiB: pad an image with
# `truncate` to give its partition room. DISK_ID (default 0x4c424f54, "LBOT"; the rpi board's
# SDCARD_DISK_ID) is the MBR's disk identifier, so PARTUUIDs are 4c424f54-01 and so on. The
# word `extended` in place of a PART (an MBR has four entries) makes the next entry an extended
# partition (type f) to the end of the disk holding every PART after it as a logical partition,
# numbered from 5; each one's extended boot record takes the MiB before it, so that they stay
# 1 MiB aligned.
disk_build() {
	local out=$1 spec file type start=2048 sectors table logical="" ext=""
	shift
	table="label: dos"$'\n'"label-id: ${DISK_ID:-0x4c424f54}"$'\n'"unit: sectors"$'\n'
	local files=() starts=()
	for spec; do
		if [ "$spec" = extended ]; then
			ext=$start
			continue
		fi
		[ -z "$ext" ] || start=$((start + 2048))
		file=${spec%%:*}
		type=83
		[ "$spec" != "$file" ] && type=${spec#*:}
		sectors=$((($(disk_size_of "$file") + (1 << 20) - 1) / (1 << 20) * 2048))
		if [ -z "$ext" ]; then
			table+="start=$start, size=$sectors, type=$type"$'\n'
		else
			logical+="start=$start, size=$sectors, type=$type"$'\n'
		fi
		files+=("$file")
		starts+=("$start")
		start=$((start + sectors))
	done
	[ -z "$ext" ] || table+="start=$ext, size=$((start - ext)), type=f"$'\n'"$logical"
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
	dd if="$1" of="$3" bs=1M skip="$start" count="$size" iflag=skip_bytes,count_bytes conv=sparse status=none
}

# part_write DISK N IMAGE: IMAGE over the start of partition N (the rest is left as it was).
part_write() {
	local start size
	read -r start size < <(part_geometry "$1" "$2") || return 1
	if [ "$(disk_size_of "$3")" -gt "$size" ]; then
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

# ---- GRUB for BIOS (i386-pc) ----

GRUB_PC_DIR=/usr/lib/grub/i386-pc
# What overlay/boot/grub/grub.cfg uses, and what reads the boot partition and its environment.
GRUB_PC_MODULES="biosdisk part_msdos ext2 normal configfile test echo linux boot loadenv sleep reboot halt eval serial terminal"

# grub_pc_core OUT PREFIX: a GRUB core image with GRUB_PC_MODULES, PREFIX (e.g.
# "(hd0,msdos1)/boot/grub") as its prefix, and a first config that puts GRUB's console on both
# the screen and the first serial port (tests and headless boards read the serial one).
grub_pc_core() {
	local out=$1 prefix=$2 early
	early=$(mktemp)
	printf 'serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n' >"$early"
	# shellcheck disable=SC2086 # the module list is words
	grub-mkimage -O i386-pc -d "$GRUB_PC_DIR" -o "$out" -p "$prefix" -c "$early" $GRUB_PC_MODULES
	local rc=$?
	rm -f "$early"
	return $rc
}

# grub_pc_install DISK CORE: GRUB into the disk as grub-bios-setup embeds it: boot.img's code
# (the first 440 bytes; the partition table stays) in the MBR and CORE from sector 1, in the gap
# before partition 1. boot.img's default kernel sector (1) and core.img's default block list
# (from sector 2, as many sectors as grub-mkimage wrote into it) are right for that place:
# nothing to patch.
grub_pc_install() {
	local disk=$1 core=$2 first
	first=$(($(part_geometry "$disk" 1 | cut -d' ' -f1) / 512))
	if [ $((($(disk_size_of "$core") + 511) / 512 + 1)) -gt "$first" ]; then
		echo "grub_pc_install: $core does not fit before sector $first" >&2
		return 1
	fi
	dd if="$GRUB_PC_DIR/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none &&
		dd if="$core" of="$disk" bs=512 seek=1 conv=notrunc status=none
}

# ---- U-Boot (arm64) ----

# uboot_script OUT CMD: the U-Boot command file CMD (overlay/boot/u-boot/boot.cmd) as the script
# image that U-Boot's distro boot runs from the boot partition (boot.scr).
uboot_script() {
	mkimage -A arm64 -O linux -T script -C none -n "lifeboat boot selection" -d "$2" "$1" >/dev/null
}

# uboot_state_empty FILE: the boot state pair FILE and FILE.redund, each an intact, empty
# environment in the format of U-Boot's `env export -c` (4096 bytes: CRC32, then no variables):
# no main, the recovery boots. Installs rewrite both in place, so both must exist.
uboot_state_empty() {
	mkenvimage -p 0 -s 0x1000 -o "$1" - </dev/null && cp "$1" "$1.redund"
}

# uboot_state_list FILE: the variables of one copy of the boot state, one NAME=VALUE a line.
uboot_state_list() { tail -c +5 "$1" | tr '\0' '\n' | sed '/^$/,$d'; }

# rpi_pi3_boot_files < CONFIG_TXT: "KERNEL INITRD", the files a Raspberry Pi 3's firmware would
# start from a boot partition with this config.txt (what U-Boot must load in its place): the
# lines outside any conditional section, or in [all] or [pi3], the last one counting; kernel8.img
# without kernel= (arm_64bit=1's default), initramfs8 with auto_initramfs=1, INITRD "-" for none.
rpi_pi3_boot_files() {
	awk '
		/^[ \t]*\[/ { section = $0; gsub(/[][ \t]/, "", section); next }
		section != "" && section != "all" && section != "pi3" { next }
		{ sub(/#.*/, "") }
		/^[ \t]*kernel[ \t]*=/ { kernel = $0; sub(/^[^=]*=[ \t]*/, "", kernel); sub(/[ \t]+$/, "", kernel) }
		/^[ \t]*initramfs[ \t]/ { initrd = $2 }
		/^[ \t]*auto_initramfs[ \t]*=[ \t]*1/ { auto = 1 }
		END {
			if (kernel == "") kernel = "kernel8.img"
			if (initrd == "" && auto) initrd = "initramfs8"
			print kernel, (initrd == "" ? "-" : initrd)
		}'
}

# The U-Boot that QEMU's aarch64 virt machine runs as its firmware (Debian's u-boot-qemu).
# shellcheck disable=SC2034 # used by the scripts that source this file
UBOOT_QEMU_ARM64=/usr/lib/u-boot/qemu_arm64/u-boot.bin

# uboot_pflash_env UBOOT OUT: a pflash image for QEMU's virt machine (64 MiB, its second flash;
# U-Boot's environment is its first 256 KiB) holding UBOOT's own default environment with
# bootdelay=0: the same distro boot, without the 2 s autoboot countdown. The default environment
# is taken from the u-boot.bin file itself (the NUL-separated block that starts with bootcmd= and
# bootdelay=). QEMU may map it read-only: U-Boot only reads it.
uboot_pflash_env() {
	local uboot=$1 out=$2 offset text rc
	offset=$(LC_ALL=C grep -obUaP '\x00bootcmd=[^\x00]*\x00bootdelay=' "$uboot" | head -n 1 | cut -d: -f1)
	if [ -z "$offset" ]; then
		echo "uboot_pflash_env: no default environment found in $uboot" >&2
		return 1
	fi
	text=$(mktemp)
	tail -c +$((offset + 2)) "$uboot" | head -c 65536 | tr '\0' '\n' | sed '/^$/,$d' |
		sed 's/^bootdelay=.*/bootdelay=0/' >"$text"
	grep -q '^bootcmd=' "$text" && grep -qx 'bootdelay=0' "$text" &&
		rm -f "$out" && mkenvimage -s 0x40000 -o "$out" "$text" && truncate -s 64M "$out"
	rc=$?
	rm -f "$text"
	return $rc
}
