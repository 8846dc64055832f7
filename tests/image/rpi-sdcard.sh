# The Raspberry Pi card (scripts/make-sdcard --board rpi, docs/sdcard.md), made from the rpi
# recovery of `make recovery BOARD=rpi` (make check builds it) and a small synthetic main: a FAT
# boot image (config.txt, cmdline.txt with root=PARTUUID=4c424f54-05, a stand-in kernel and
# device tree) and an ext4 root file system. Then the card is read back on the host, without
# mounting anything: the MBR with its extended partition (types c 83 c f 83 83, 5 and 6 inside
# 4, every partition 1 MiB aligned) and the board's disk identifier 0x4c424f54 (the partitions'
# PARTUUIDs), partition 1's files (mtools), the boot state pair (`lifeboat status`
# with boot-backend rpi), the recovery, main's two images and the data partition byte for byte;
# the same card from a bundle (the interface scripts/convert-image uses); and the refusals: a
# main without a boot image, a bundle for another board, partitions too small for what they
# must hold, a boot image that is not FAT. Last, the card's recovery boots in QEMU's raspi3b
# (about 2 minutes under TCG), with QEMU in the firmware's place: the Pi firmware cannot run here;
# its initramfs finds its root by PARTUUID and its boot partition is mounted through udev's link.
source "$(dirname "$0")/../lib.sh"
# part_extract, part_geometry, uboot_state_list: the helpers make-sdcard itself uses
source "$ROOT/scripts/lib/disk.sh"

N=/image/rpi/sdcard
OUT=$ROOT/build/rpi
SDCARD=$ROOT/scripts/make-sdcard
for c in sfdisk mkfs.vfat mkfs.ext4 mcopy mtype debugfs blkid mkenvimage unsquashfs jq; do
	command -v "$c" >/dev/null || { fail $N "$c is missing: run scripts/install-deps"; exit 0; }
done
for f in recovery.squashfs recovery.squashfs.sha256 vmlinuz initrd.img recovery.info boot/start4.elf; do
	[ -s "$OUT/$f" ] || { fail $N "$OUT/$f is missing: run make recovery BOARD=rpi"; exit 0; }
done
[ -x "$LB" ] && [ -x "$LBB" ] || { fail $N "$LB is missing: run make"; exit 0; }
KEY=$(sed -n 's/^key=//p' "$OUT/recovery.info")
SIGNING_KEY=${KEY%.pub.pem}.key.pem
[ -s "$SIGNING_KEY" ] || { fail $N "no private key beside the recovery's trusted $KEY"; exit 0; }
export MTOOLS_SKIP_CHECK=1

# ---- a synthetic main ----

m=$T/main
mkdir -p "$m/boot" "$m/root/etc" "$m/data/settings"
printf 'arm_64bit=1\nupstream_kernel=1\nkernel=vmlinuz\n' >"$m/boot/config.txt"
echo "console=ttyS1,115200 root=PARTUUID=4c424f54-05 rw rootwait" >"$m/boot/cmdline.txt"
random_file "$m/boot/vmlinuz" $((3 << 20))
random_file "$m/boot/bcm2711-rpi-4-b.dtb" 50000
# boot_image OUT DIR: a 24 MiB FAT (mkfs.vfat picks FAT16) holding DIR's files
boot_image() { mkfs.vfat -C "$1" $((24 * 1024)) >/dev/null && mcopy -i "$1" "$2"/* ::; }
boot_image "$m/boot.img" "$m/boot"
echo "main of the rpi card test" >"$m/root/etc/issue"
random_file "$m/root/etc/blob" $((4 << 20))
truncate -s 20M "$m/rootfs.img" && mkfs.ext4 -q -F -L main -d "$m/root" "$m/rootfs.img"
echo "tether=usb0" >"$m/data/settings/net.conf"
sizes=(--main-mib 40 --main-boot-mib 32 --data-mib 32)

# ---- the card, from the two images ----

t0=$SECONDS
card=$T/card.img
if ! "$SDCARD" --board rpi --main "$m/rootfs.img" --main-boot "$m/boot.img" --version 4.2 "${sizes[@]}" \
	--data-dir "$m/data" --out "$card" >"$T/make.log" 2>&1; then
	fail $N/made "$(tail -n 3 "$T/make.log" | tr '\n' ' ')"
	exit 0
fi
pass "$N/made # $(($(size_of "$card") >> 20)) MiB (sparse: $(du -m "$card" | cut -f1) MiB) in $((SECONDS - t0)) s"

# The partition table: what each partition is, where, and how large (in sectors).
sfdisk --dump "$card" >"$T/table" 2>&1
table() { # N FIELD: start, size or type of partition N
	sed -n "s/^[^ ]*$1 : //p" "$T/table" | tr -d ' ' | tr ',' '\n' | sed -n "s/^$2=//p"
}
partition_table() {
	local n types="" start size
	grep -qx 'label: dos' "$T/table" || { echo "not an MBR: $(head -n 1 "$T/table")"; return 1; }
	# the board's disk identifier (rootfs/boards/rpi.conf): what root=PARTUUID= and main's fstab name
	grep -qx 'label-id: 0x4c424f54' "$T/table" || { echo "disk identifier: $(grep label-id "$T/table")"; return 1; }
	[ "$(blkid -p -o value -s PTUUID "$card")" = 4c424f54 ] || { echo "blkid: PTUUID $(blkid -p -o value -s PTUUID "$card")"; return 1; }
	for n in 1 2 3 4 5 6; do types+="$(table $n type) "; done
	[ "$types" = "c 83 c f 83 83 " ] || { echo "types $types, not c 83 c f 83 83"; return 1; }
	[ -z "$(table 7 type)" ] || { echo "a partition 7"; return 1; }
	for n in 1 2 3 4 5 6; do
		[ $(($(table $n start) % 2048)) -eq 0 ] || { echo "partition $n starts at sector $(table $n start): not 1 MiB aligned"; return 1; }
	done
	# the primaries one after the other, then the logicals inside the extended one, each behind
	# its extended boot record
	[ "$(table 1 start)" -ge 2048 ] || { echo "partition 1 overlaps the MBR"; return 1; }
	for n in 2 3 4; do
		[ "$(table $n start)" -ge $(($(table $((n - 1)) start) + $(table $((n - 1)) size))) ] ||
			{ echo "partition $n overlaps partition $((n - 1))"; return 1; }
	done
	start=$(table 4 start) size=$(table 4 size)
	for n in 5 6; do
		[ "$(table $n start)" -gt "$start" ] && [ $(($(table $n start) + $(table $n size))) -le $((start + size)) ] ||
			{ echo "partition $n is not inside the extended partition 4"; return 1; }
	done
	[ "$(table 6 start)" -gt $(($(table 5 start) + $(table 5 size))) ] || { echo "no room for partition 6's EBR"; return 1; }
	[ "$(table 1 size) $(table 2 size) $(table 3 size) $(table 5 size) $(table 6 size)" = \
		"$((128 * 2048)) $((128 * 2048)) $((32 * 2048)) $((40 * 2048)) $((32 * 2048))" ] ||
		{ echo "sizes (sectors) $(table 1 size) $(table 2 size) $(table 3 size) $(table 5 size) $(table 6 size)"; return 1; }
	# the kernel's view: partx reads the table through libblkid, EBR chain included
	[ "$(partx --show --noheadings -o NR "$card" | tr -d ' ' | tr '\n' ' ')" = "1 2 3 4 5 6 " ] ||
		{ echo "partx sees: $(partx --show "$card")"; return 1; }
}
check $N/partition-table partition_table

# partition 1: the firmware's FAT32, the recovery's boot files and the state pair
part_extract "$card" 1 "$T/p1.img"
mkdir -p "$T/p1"
mcopy -n -i "$T/p1.img" '::*' "$T/p1/" 2>/dev/null
sha=$(cut -c1-64 "$OUT/recovery.squashfs.sha256")
boot_partition() {
	local f
	[ "$(blkid -p -o value -s TYPE "$T/p1.img") $(blkid -p -o value -s VERSION "$T/p1.img") $(blkid -p -o value -s LABEL "$T/p1.img")" = \
		"vfat FAT32 RECOVERY" ] || { echo "partition 1 is $(blkid -p "$T/p1.img")"; return 1; }
	cmp "$T/p1/autoboot.txt" "$ROOT/overlay/boot/rpi/autoboot.txt" && cmp "$T/p1/config.txt" "$ROOT/overlay/boot/rpi/config.txt" || return 1
	grep -q '^\[tryboot\]$' "$T/p1/autoboot.txt" && grep -qx 'boot_partition=3' "$T/p1/autoboot.txt" || { echo "autoboot.txt tries no partition 3"; return 1; }
	grep -qw 'root=PARTUUID=4c424f54-02' "$T/p1/cmdline.txt" || { echo "cmdline.txt: $(cat "$T/p1/cmdline.txt")"; return 1; }
	grep -qw "lifeboat.sha256=$sha" "$T/p1/cmdline.txt" || { echo "cmdline.txt has not the squashfs's hash $sha: $(cat "$T/p1/cmdline.txt")"; return 1; }
	[ "$(wc -l <"$T/p1/cmdline.txt")" -eq 1 ] || { echo "cmdline.txt is not one line"; return 1; }
	cmp "$T/p1/vmlinuz" "$OUT/vmlinuz" && cmp "$T/p1/initrd.img" "$OUT/initrd.img" || return 1
	for f in start4.elf fixup4.dat start.elf fixup.dat bootcode.bin; do cmp "$T/p1/$f" "$OUT/boot/$f" || return 1; done
	ls "$T/p1"/bcm2711-rpi-4-b.dtb "$T/p1"/bcm2837-rpi-3-b.dtb >/dev/null || return 1
}
check $N/boot-partition boot_partition

# the Pi 3's U-Boot (config.txt's [pi3]), its boot script, and the board file that script reads:
# the recovery from partition 1, main from 3 with its cmdline.txt and the kernel its config.txt
# names (kernel=vmlinuz, no initramfs)
pi3_u_boot() {
	cmp "$T/p1/u-boot-rpi3.bin" "$OUT/boot/u-boot-rpi3.bin" && cmp "$T/p1/boot.scr" "$OUT/boot/boot.scr" || return 1
	sed -n '/^\[pi3\]/,/^\[/p' "$T/p1/config.txt" | grep -qx 'kernel=u-boot-rpi3.bin' || { echo "config.txt starts no U-Boot on a Pi 3"; return 1; }
	local want
	for want in lb_part_recovery=1 lb_kernel_recovery=vmlinuz lb_initrd_recovery=initrd.img lb_part_main=3 \
		lb_kernel_main=vmlinuz lb_initrd_main= lb_cmdline_file_main=cmdline.txt 'lb_fdt=${fdt_addr}'; do
		grep -qxF "$want" "$T/p1/lifeboat-board.txt" || { echo "lifeboat-board.txt has no $want: $(cat "$T/p1/lifeboat-board.txt")"; return 1; }
	done
	grep -q "^lb_cmdline_recovery=.*root=PARTUUID=4c424f54-02 .*lifeboat.sha256=$sha" "$T/p1/lifeboat-board.txt" ||
		{ echo "the recovery's command line for U-Boot: $(grep cmdline_recovery "$T/p1/lifeboat-board.txt")"; return 1; }
}
check $N/pi3-u-boot pi3_u_boot

# the state pair, as the recovery's installer left it: main first, with its attempts and version
cat >"$T/status.conf" <<-EOF
	compatible = lifeboat-rpi
	boot-backend = rpi
	boot-env = $T/p1/lifeboat.env
	boot-attempts = 3
	state-dir = $T
EOF
boot_state() {
	local json
	[ "$(size_of "$T/p1/lifeboat.env")" -eq 4096 ] && [ "$(size_of "$T/p1/lifeboat.env.redund")" -eq 4096 ] ||
		{ echo "the state pair is not two 4096-byte copies"; return 1; }
	[ "$(uboot_state_list "$T/p1/lifeboat.env")" = "$(uboot_state_list "$T/p1/lifeboat.env.redund")" ] ||
		{ echo "the two copies differ"; return 1; }
	json=$("$LB" status --config "$T/status.conf" --json) || return 1
	[ "$(jq -r '[.backend, (.order | map("\(.slot) \(.attempts_left) \(.version)") | join(",")), .oneshot_recovery] | @tsv' <<<"$json")" = \
		"rpi	main 3 4.2	false" ] || { echo "lifeboat status: $json"; return 1; }
}
check $N/boot-state boot_state

# prefix_equal N IMAGE: partition N begins with IMAGE's bytes
prefix_equal() {
	local start size
	read -r start size < <(part_geometry "$card" "$1")
	cmp -n "$(size_of "$2")" <(dd if="$card" bs=1M skip="$start" count="$size" iflag=skip_bytes,count_bytes status=none) "$2"
}
check $N/recovery prefix_equal 2 "$OUT/recovery.squashfs"
check $N/main-boot prefix_equal 3 "$m/boot.img"
check $N/main-rootfs prefix_equal 5 "$m/rootfs.img"
check $N/main-boot-cmdline sh -c "mtype -i '$m/boot.img' ::cmdline.txt | grep -qw root=PARTUUID=4c424f54-05"
check $N/no-root-warning sh -c "! grep -q warning '$T/make.log'"

# the recovery on the card writes main where the card has it: its targets and mounts name
# partitions 3, 5, 1 and 6 by udev's PARTUUID links (read from the squashfs itself)
recovery_layout() {
	local conf=$T/sq/etc/lifeboat/lifeboat.conf fstab=$T/sq/etc/fstab
	unsquashfs -no-xattrs -d "$T/sq" "$OUT/recovery.squashfs" /etc/lifeboat/lifeboat.conf /etc/fstab >/dev/null 2>&1 || return 1
	grep -qx 'target.boot = /dev/disk/by-partuuid/4c424f54-03' "$conf" &&
		grep -qx 'target.rootfs = /dev/disk/by-partuuid/4c424f54-05' "$conf" &&
		[ "$(grep -c '^target\.' "$conf")" -eq 2 ] || { echo "targets: $(grep '^target' "$conf" | tr '\n' ' ')"; return 1; }
	grep -q '^/dev/disk/by-partuuid/4c424f54-01[[:space:]]*/run/lifeboat/boot[[:space:]]*vfat' "$fstab" &&
		grep -q '^/dev/disk/by-partuuid/4c424f54-06[[:space:]]*/data[[:space:]]*ext4' "$fstab" ||
		{ echo "fstab: $(grep '^/dev' "$fstab" | tr '\n' ' ')"; return 1; }
}
check $N/recovery-layout recovery_layout

part_extract "$card" 6 "$T/p6.img"
data_partition() {
	[ "$(blkid -p -o value -s TYPE "$T/p6.img") $(blkid -p -o value -s LABEL "$T/p6.img")" = "ext4 data" ] ||
		{ echo "partition 6 is $(blkid -p "$T/p6.img")"; return 1; }
	[ "$(debugfs -R 'cat /settings/net.conf' "$T/p6.img" 2>/dev/null)" = "tether=usb0" ] || { echo "no settings/net.conf"; return 1; }
}
check $N/data data_partition

# ---- the same card from a bundle (scripts/convert-image's interface) ----

"$LBB" create --key "$SIGNING_KEY" --compatible lifeboat-rpi --version 5 --image boot="$m/boot.img" \
	--image rootfs="$m/rootfs.img" -o "$T/main.lifeboat" >/dev/null
from_bundle() {
	"$SDCARD" --board rpi --main "$T/main.lifeboat" --out "$T/card2.img" >"$T/make2.log" 2>&1 ||
		{ tail -n 3 "$T/make2.log"; return 1; }
	card=$T/card2.img
	prefix_equal 3 "$m/boot.img" && prefix_equal 5 "$m/rootfs.img" || return 1
	# default sizes: main's boot 256 MiB, main 1 GiB (at least), data 256 MiB
	sfdisk --dump "$T/card2.img" >"$T/table"
	[ "$(table 3 size) $(table 5 size) $(table 6 size)" = "$((256 * 2048)) $((1024 * 2048)) $((256 * 2048))" ] ||
		{ echo "default sizes (sectors) $(table 3 size) $(table 5 size) $(table 6 size)"; return 1; }
	grep -q 'LB_main_VERSION=5' "$T/make2.log" || { echo "no main version 5 in the boot state: $(tail -n 1 "$T/make2.log")"; return 1; }
}
check $N/from-bundle from_bundle
rm -f "$T/card2.img"

# ---- refusals: a clear message, and no card ----

# refused NAME PATTERN ARGS...: make-sdcard fails with a message matching PATTERN (grep -E) and
# leaves no card behind
refused() {
	local name=$1 pattern=$2 rc=0
	shift 2
	"$SDCARD" --board rpi --out "$T/refused.img" "$@" >"$T/refused.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ]; then
		fail "$N/refuses-$name" "a card was made"
	elif [ -e "$T/refused.img" ]; then
		fail "$N/refuses-$name" "refused, but $T/refused.img is there"
	elif ! grep -qE -- "$pattern" "$T/refused.log"; then
		fail "$N/refuses-$name" "the message does not say /$pattern/: $(tr '\n' ' ' <"$T/refused.log")"
	else
		pass "$N/refuses-$name # $(tail -n 1 "$T/refused.log" | cut -c1-140)"
	fi
	rm -f "$T/refused.img"
}
refused no-boot-image 'without --main-boot: .*boot.*rootfs' --main "$m/rootfs.img"
"$LBB" create --key "$SIGNING_KEY" --compatible lifeboat-rpi --version 1 --image rootfs="$m/rootfs.img" \
	-o "$T/rootfs-only.lifeboat" >/dev/null
refused bundle-without-boot 'has no boot image: .*--main-boot' --main "$T/rootfs-only.lifeboat"
"$LBB" create --key "$SIGNING_KEY" --compatible lifeboat-qemu-arm64 --version 1 --image boot="$m/boot.img" \
	--image rootfs="$m/rootfs.img" -o "$T/arm64.lifeboat" >/dev/null
refused other-board "is for 'lifeboat-qemu-arm64', not board rpi: .*--compatible lifeboat-rpi" --main "$T/arm64.lifeboat"
refused boot-image-not-fat 'rootfs.img is ext4, not FAT' --main "$m/rootfs.img" --main-boot "$m/rootfs.img"
refused main-too-small '--main-mib 8 is too small .*give at least 20' --main "$m/rootfs.img" --main-boot "$m/boot.img" --main-mib 8
refused main-boot-too-small '--main-boot-mib 16 is too small .*give at least 24' --main "$m/rootfs.img" --main-boot "$m/boot.img" --main-boot-mib 16
refused boot-too-small '--boot-mib 32: .*at least 64 MiB' --main "$m/rootfs.img" --main-boot "$m/boot.img" --boot-mib 32
refused main-boot-with-bundle '--main-boot goes with an image' --main "$T/main.lifeboat" --main-boot "$m/boot.img"

# a boot image whose cmdline.txt names another root (here the kernel's name, which the card's
# PARTUUID replaces): the card is made (its images are main's own), with a warning
mkdir -p "$T/wrong"
cp "$m/boot"/* "$T/wrong/"
echo "console=ttyS1,115200 root=/dev/mmcblk0p5 rw" >"$T/wrong/cmdline.txt"
boot_image "$T/wrong.img" "$T/wrong"
warns_wrong_root() {
	"$SDCARD" --board rpi --main "$m/rootfs.img" --main-boot "$T/wrong.img" "${sizes[@]}" --out "$T/card3.img" >"$T/make3.log" 2>&1 ||
		{ tail -n 3 "$T/make3.log"; return 1; }
	grep -q "warning: main's cmdline.txt says root=/dev/mmcblk0p5, but main's root file system is PARTUUID=4c424f54-05" "$T/make3.log" ||
		{ echo "no warning: $(cat "$T/make3.log")"; return 1; }
}
check $N/warns-wrong-root warns_wrong_root
rm -f "$T/card3.img"

# ---- the card in QEMU's raspi3b: U-Boot boots main, then the recovery ----

# QEMU 7.2 emulates the Raspberry Pi 3B, not the 4, and no Pi firmware runs in it: QEMU plays
# the firmware's part as config.txt's [pi3] section asks, starting partition 1's U-Boot
# (u-boot-rpi3.bin) with the Pi 3B's device tree from there. U-Boot's distro boot finds boot.scr
# on partition 1 and everything after that is the card's own: the boot state pair, the board
# file, the kernels. The card is grown to a power of two, as QEMU wants of an SD card. QEMU's
# emulated SD host reads at about 1.2 MiB/s: loading a 33 MiB kernel takes half a minute.
N=/image/rpi/sdcard-raspi3b
BOOT_LIMIT=${RPI_BOOT_LIMIT:-600}
command -v qemu-system-aarch64 >/dev/null || { fail $N "qemu-system-aarch64 is missing: run scripts/install-deps"; exit 0; }
echo "# $N: the Raspberry Pi firmware is not run: QEMU starts the U-Boot and device tree that config.txt's [pi3] names, from the card's partition 1"
# raspi3b CARD CONSOLE: QEMU started in the background (its pid in $qemu), the card grown as
# QEMU wants, the console (the mini UART, ttyS1, QEMU's second serial port) in CONSOLE
raspi3b() {
	local size pow=1
	size=$(size_of "$1")
	while [ $pow -lt "$size" ]; do pow=$((pow * 2)); done
	truncate -s $pow "$1"
	part_extract "$1" 1 "$T/u1.img"
	mcopy -n -i "$T/u1.img" ::u-boot-rpi3.bin ::bcm2837-rpi-3-b.dtb "$T/"
	: >"$2"
	qemu-system-aarch64 -M raspi3b -m 1G -display none -no-reboot -kernel "$T/u-boot-rpi3.bin" \
		-dtb "$T/bcm2837-rpi-3-b.dtb" -drive if=sd,format=raw,file="$1" -serial null -serial "file:$2" >"$T/qemu.log" 2>&1 &
	qemu=$!
}
seen() { grep -aq -- "$1" "$console"; }
stop_qemu() { kill $qemu 2>/dev/null; wait $qemu 2>/dev/null; }

# 1. main: a card whose main has a real kernel (the recovery's, as main's boot partition holds
# it), its own cmdline.txt, and 3 attempts. U-Boot counts one in both copies of the state, reads
# main's command line from partition 3's cmdline.txt and starts main's kernel with it; asserted
# up to the kernel's own line saying its command line (main's root file system here is no system).
mkdir -p "$m/bootq"
printf 'arm_64bit=1\nupstream_kernel=1\nkernel=vmlinuz\n' >"$m/bootq/config.txt"
echo "console=ttyS1,115200 root=PARTUUID=4c424f54-05 rw rootwait lifeboat-test=main-cmdline" >"$m/bootq/cmdline.txt"
cp "$OUT/vmlinuz" "$m/bootq/vmlinuz"
mkfs.vfat -C "$m/bootq.img" $((48 * 1024)) >/dev/null && mcopy -i "$m/bootq.img" "$m/bootq"/* ::
if ! "$SDCARD" --board rpi --main "$m/rootfs.img" --main-boot "$m/bootq.img" --main-mib 40 --main-boot-mib 56 --data-mib 32 \
	--out "$T/mcard.img" >"$T/make5.log" 2>&1; then
	fail $N/main "make-sdcard: $(tail -n 3 "$T/make5.log" | tr '\n' ' ')"
	exit 0
fi
console=$T/raspi3b-main.console.log
t0=$SECONDS
raspi3b "$T/mcard.img" "$console"
main_line='Kernel command line: console=ttyS1,115200 root=PARTUUID=4c424f54-05 rw rootwait lifeboat-test=main-cmdline lifeboat.slot=main lifeboat.loader=u-boot'
while [ $((SECONDS - t0)) -lt "$BOOT_LIMIT" ] && kill -0 $qemu 2>/dev/null && ! seen "$main_line" && ! seen 'lifeboat: booting recovery'; do
	sleep 1
done
elapsed=$((SECONDS - t0))
stop_qemu
cp "$console" "$OUT/sdcard-raspi3b-main.console.log" 2>/dev/null
why="console: $(grep -a 'lifeboat\|Kernel command' "$console" | tail -n 3 | tr '\n' ' ' | cut -c1-300) (build/rpi/sdcard-raspi3b-main.console.log)"
if seen 'lifeboat: booting main (2 attempts left after this one)'; then pass "$N/u-boot-chose-main"; else fail $N/u-boot-chose-main "$why"; fi
if seen "$main_line"; then pass "$N/main-kernel-with-its-cmdline # $elapsed s from QEMU's start"; else fail $N/main-kernel-with-its-cmdline "no '$main_line': $why"; fi
part_extract "$T/mcard.img" 1 "$T/m1.img"
mcopy -n -i "$T/m1.img" ::lifeboat.env "$T/m1.env" && mcopy -n -i "$T/m1.img" ::lifeboat.env.redund "$T/m1.env.redund"
counted() { uboot_state_list "$T/m1.env" | grep -qx LB_main_LEFT=2 && uboot_state_list "$T/m1.env.redund" | grep -qx LB_main_LEFT=2; }
check $N/main-attempt-counted counted

# 2. the recovery: the card made above with the one-shot into the recovery set (main installed,
# with attempts left). U-Boot clears the one-shot and boots the recovery with
# lifeboat.reason=requested and lifeboat.loader=u-boot, so the recovery does not hand over to main
# (which would reboot: QEMU runs with -no-reboot and would end). The one change to the card:
# systemd.watchdog_device=/dev/null added to the recovery's command line in the board file, as
# QEMU's BCM2835 watchdog resets the machine as soon as it is started instead of counting.
# Asserted: the card seen with its logical partitions, the initramfs's line saying that
# root=PARTUUID=4c424f54-02 is mmcblk0p2 (it read the card's disk identifier), / the squashfs of
# mmcblk0p2 made read-only, systemd started, the image's self-check passed, and, within the
# limit, the boot partition mounted through udev's link /dev/disk/by-partuuid/4c424f54-01.
if ! "$SDCARD" --board rpi --main "$m/rootfs.img" --main-boot "$m/boot.img" "${sizes[@]}" --start-in recovery \
	--out "$T/qcard.img" >"$T/make4.log" 2>&1; then
	fail $N "make-sdcard --start-in recovery: $(tail -n 3 "$T/make4.log" | tr '\n' ' ')"
	exit 0
fi
part_extract "$T/qcard.img" 1 "$T/q1.img"
mcopy -n -i "$T/q1.img" ::lifeboat-board.txt "$T/q1-board.txt"
sed -i 's|^lb_cmdline_recovery=.*|& systemd.watchdog_device=/dev/null|' "$T/q1-board.txt"
mcopy -o -i "$T/q1.img" "$T/q1-board.txt" ::lifeboat-board.txt && part_write "$T/qcard.img" 1 "$T/q1.img"
console=$T/raspi3b.console.log
t0=$SECONDS
raspi3b "$T/qcard.img" "$console"
protected='protect-recovery: /dev/mmcblk0p2 (holding /, squashfs) is read-only'
chose='lifeboat initramfs: root=PARTUUID=4c424f54-02 is /dev/mmcblk0p2'
# systemd's own line, or its status line once journald has started (the unit's name shortened)
self_checked='Finished .*lifeboat-self-che'
# (systemd shortens unit names on its status lines: run-lifeb…)
boot_mounted='Mounted .*run-lifeb'
boot_failed='Dependency failed for .*run-lifeb\|Failed to mount .*run-lifeb'
while [ $((SECONDS - t0)) -lt "$BOOT_LIMIT" ] && kill -0 $qemu 2>/dev/null && ! seen 'Failed to start .*lifeboat-self-che' &&
	! seen 'lifeboat initramfs: rebooting' && ! seen "$boot_failed" &&
	! { seen "$self_checked" && seen "$protected" && seen "$boot_mounted"; }; do
	sleep 2
done
elapsed=$((SECONDS - t0))
running=no
! kill -0 $qemu 2>/dev/null || running=yes
stop_qemu
cp "$console" "$OUT/sdcard-raspi3b.console.log" 2>/dev/null
why="$(tail -n 2 "$T/qemu.log" | tr '\n' ' ') console: $(grep -a . "$console" | tail -n 2 | tr '\n' ' ' | cut -c1-200) (build/rpi/sdcard-raspi3b.console.log)"
if seen 'lifeboat: booting recovery (reason: requested)' && seen 'Kernel command line: .*lifeboat.slot=recovery lifeboat.reason=requested lifeboat.loader=u-boot'; then
	pass "$N/u-boot-chose-recovery"
else
	fail $N/u-boot-chose-recovery "no U-Boot choice of the recovery, or not on the kernel's command line: $(grep -a 'lifeboat:\|Kernel command' "$console" | head -n 3 | tr '\n' ' ') $why"
fi
if seen 'mmcblk0: p1 p2 p3 p4 < p5 p6 >'; then pass "$N/card-found"; else fail $N/card-found "no mmcblk0 with p1 p2 p3 p4 < p5 p6 >: $why"; fi
if seen "$chose"; then pass "$N/root-by-partuuid"; else fail $N/root-by-partuuid "no '$chose': $(grep -a 'lifeboat initramfs' "$console" | head -n 3 | tr '\n' ' ') $why"; fi
if seen "$protected"; then
	pass "$N/root-is-p2-squashfs"
else
	fail $N/root-is-p2-squashfs "no 'protect-recovery: /dev/mmcblk0p2 (holding /, squashfs)': $why"
fi
if seen 'systemd\[1\]: systemd [0-9][^ ]* running'; then pass "$N/systemd"; else fail $N/systemd "systemd did not start: $why"; fi
if seen "$self_checked"; then
	pass "$N/self-check # $elapsed s from QEMU's start (TCG, U-Boot included)"
else
	fail $N/self-check "no finished self-check within $BOOT_LIMIT s: $why"
fi
# no hand-over: the recovery stayed (a reboot ends QEMU, -no-reboot)
if [ $running = yes ] && ! seen 'tryboot'; then pass "$N/no-hand-over-after-u-boot"; else fail $N/no-hand-over-after-u-boot "QEMU ended (a reboot?) before the boot was seen: $why"; fi
# The mount waits for udev's coldplug, late under TCG (5 minutes for the device, counted from
# systemd's start): not reached within the limit is said, not counted; a failed one is.
if seen "$boot_mounted"; then
	pass "$N/boot-mounted-by-partuuid # $elapsed s from QEMU's start"
elif seen "$boot_failed" || seen 'lifeboat initramfs: rebooting'; then
	fail $N/boot-mounted-by-partuuid "/run/lifeboat/boot (/dev/disk/by-partuuid/4c424f54-01) was not mounted: $(grep -a 'run-lifeb\|partuuid' "$console" | tail -n 2 | tr '\n' ' ') $why"
else
	skip $N/boot-mounted-by-partuuid "the boot partition's mount did not come within $BOOT_LIMIT s (TCG; RPI_BOOT_LIMIT gives more)"
fi
