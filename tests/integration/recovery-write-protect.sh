#!/usr/bin/env bash
# The recovery partition's write protection (docs/recovery-image.md, "Write protection"), on
# real loop devices:
#  - the recovery's side: a squashfs on a loop device, mounted as the recovery mounts its /,
#    made read-only by the program and argument that lifeboat-protect-recovery.service runs;
#    then dd as root fails with EPERM (buffered and O_DIRECT) and the bytes stay the same;
#  - main's side: scripts/companion/61-lifeboat-recovery-ro.rules as `udevadm test` evaluates
#    it for every partition of an MBR card (the qemu-x86_64 layout) and of a GPT card, and the
#    command it gives applied to the partitions;
#  - the limits the documentation states: the whole-disk node still reaches the partition's
#    sectors, and root can clear the flag.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/lib/disk.sh"
N=/recovery/write-protect
UNIT=$ROOT/overlay/etc/systemd/system/lifeboat-protect-recovery.service
RULE=$ROOT/scripts/companion/61-lifeboat-recovery-ro.rules

for c in mksquashfs blockdev findmnt partx sfdisk unshare; do
	command -v "$c" >/dev/null || { fail $N "$c is missing: run scripts/install-deps"; exit 0; }
done

# expect_write_refused NAME DEVICE [dd flags...]: a 4 KiB write of random bytes fails with
# EPERM and the device holds the same bytes as before.
expect_write_refused() {
	local name=$1 dev=$2 before
	shift 2
	before=$(digest "$dev")
	if dd if=/dev/urandom of="$dev" bs=4096 count=1 conv=notrunc,fsync "$@" status=none 2>"$T/dd.err"; then
		fail "$name" "dd wrote $dev"
	elif ! grep -q 'Operation not permitted' "$T/dd.err"; then
		fail "$name" "dd failed, but not with EPERM: $(cat "$T/dd.err")"
	elif [ "$(digest "$dev")" != "$before" ]; then
		fail "$name" "the bytes of $dev changed"
	else
		pass "$name"
	fi
}

# writes DEVICE [OFFSET_BYTES]: 4 KiB of random bytes at OFFSET reach DEVICE (read back).
writes() {
	head -c 4096 /dev/urandom >"$T/block"
	dd if="$T/block" of="$1" bs=4096 seek="${2:-0}" oflag=seek_bytes,direct conv=notrunc,fsync status=none &&
		cmp -s "$T/block" <(dd if="$1" bs=4096 count=1 skip="${2:-0}" iflag=skip_bytes,direct status=none)
}

# ---- the recovery: its own squashfs, protected by what the unit runs ----

read -r program argument < <(sed -n 's/^ExecStart=//p' "$UNIT")
PROTECT=$ROOT/overlay$program
if [ ! -x "$PROTECT" ] || [ "$argument" != / ]; then
	fail $N/unit "the unit runs '$program $argument', expected an overlay program on /"
	exit 0
fi
pass $N/unit
mksquashfs "$ROOT/overlay" "$T/recovery.squashfs" -noappend -quiet -no-progress >/dev/null
dev=$(loop_attach "$T/recovery.squashfs") && writable_on_exit "$dev" &&
	mount_at "$dev" "$T/root" -t squashfs -o ro || { fail $N/recovery "cannot mount the squashfs from a loop device"; exit 0; }
if ! "$PROTECT" "$T/root" >"$T/protect.out" 2>&1; then
	fail $N/recovery/applied "protect-recovery failed: $(cat "$T/protect.out")"
elif ! grep -q "^protect-recovery: $dev (holding $T/root, squashfs) is read-only\$" "$T/protect.out"; then
	fail $N/recovery/applied "it does not name $dev: $(cat "$T/protect.out")"
else
	pass $N/recovery/applied
fi
check $N/recovery/flag test "$(blockdev --getro "$dev")" = 1
expect_write_refused $N/recovery/dd "$dev"
expect_write_refused $N/recovery/dd-direct "$dev" oflag=direct
check $N/recovery/still-readable test -f "$T/root/etc/lifeboat/lifeboat.conf"
check $N/recovery/again "$PROTECT" "$T/root"
# A file system with no block device under it (/proc) is refused with the reason, not "protected".
if "$PROTECT" /proc >"$T/proc.out" 2>&1; then
	fail $N/recovery/not-a-block-device "protect-recovery succeeded on /proc: $(cat "$T/proc.out")"
elif ! grep -q 'not on a block device' "$T/proc.out"; then
	fail $N/recovery/not-a-block-device "the message does not say why: $(cat "$T/proc.out")"
else
	pass $N/recovery/not-a-block-device
fi

# ---- main: the udev rule on the partitions of a card ----

# udev_runs PARTITION: the commands udev's rules, with this rule added, would run for PARTITION
# on "add". No udev daemon runs here (`udevadm trigger` needs one), so `udevadm test` evaluates
# the rules, in a private mount namespace: a tmpfs /run holds the rule and udev's database, and
# a tmpfs /dev with copies of the nodes takes the links udev makes; nothing reaches the host.
udev_runs() {
	local part=$1 disk=${1%p[0-9]*}
	unshare --mount --propagation private bash -c '
		set -e
		mount -t tmpfs tmpfs /run
		mkdir -p /run/udev/rules.d "$2"
		cp "$1" /run/udev/rules.d/
		mount -t tmpfs tmpfs "$2"
		cp -a /dev/null "$3" "$4" "$2/"
		mount --bind "$2" /dev
		udevadm test --action=add "/sys/class/block/${4#/dev/}"' sh "$RULE" "$T/dev" "$disk" "$part" \
		>"$T/udev.out" 2>&1
	sed -n "s/^run: '\(.*\)'\$/\1/p" "$T/udev.out"
}

# expect_rule NAME PARTITION yes|no: whether the rule makes PARTITION read-only; for "yes" the
# command it gives is run, as udev would, and writes to the partition then fail.
expect_rule() {
	local name=$1 part=$2 want=$3 runs
	runs=$(udev_runs "$part" | grep 'blockdev')
	# the rules saw the partition as udev would: its partition entry read by blkid
	if ! grep -q '^ID_PART_ENTRY_NUMBER=' "$T/udev.out"; then
		fail "$name" "udevadm test did not probe $part: $(tail -n 3 "$T/udev.out" | tr '\n' ' ')"
		return
	fi
	if [ "$want" = no ]; then
		if [ -n "$runs" ]; then fail "$name" "udev would run: $runs"; else pass "$name"; fi
		return
	fi
	if [ "$runs" != "/sbin/blockdev --setro $part" ]; then
		fail "$name" "udev would run '${runs:-nothing}', expected /sbin/blockdev --setro $part ($(grep -m1 -i 'error' "$T/udev.out"))"
		return
	fi
	local cmd
	read -ra cmd <<<"$runs"
	"${cmd[@]}"
	if [ "$(blockdev --getro "$part")" != 1 ]; then fail "$name" "$part is still writable"; else pass "$name"; fi
}

if ! command -v udevadm >/dev/null; then
	skip $N/main "no udevadm"
	exit 0
fi

# MBR, as on qemu-x86_64: 1 boot ext4, 2 recovery squashfs, 3 main ext4, 4 data ext4. The
# recovery partition is known by its file system alone.
mkdir -p "$T/empty"
ext4_image "$T/boot.ext4" 4 "$T/empty" boot && ext4_image "$T/main.ext4" 4 "$T/empty" main &&
	ext4_image "$T/data.ext4" 4 "$T/empty" data &&
	disk_build "$T/mbr.img" "$T/boot.ext4" "$T/recovery.squashfs" "$T/main.ext4" "$T/data.ext4" &&
	mbr=$(loop_attach "$T/mbr.img" -P) && loop_partitions "$mbr" ||
	{ fail $N/main/mbr "cannot make the card with its partitions"; exit 0; }
expect_rule $N/main/mbr/recovery-read-only "${mbr}p2" yes
expect_rule $N/main/mbr/boot-left-alone "${mbr}p1" no
expect_rule $N/main/mbr/main-left-alone "${mbr}p3" no
expect_rule $N/main/mbr/data-left-alone "${mbr}p4" no
check $N/main/mbr/whole-disk-left-alone test "$(blockdev --getro "$mbr")" = 0
expect_write_refused $N/main/mbr/dd "${mbr}p2"
check $N/main/mbr/main-writable writes "${mbr}p3"

# What it does not cover (docs/recovery-image.md): the whole-disk node reaches the recovery's
# sectors, and root clears the flag.
p2_start=$(($(cat "/sys/class/block/${mbr#/dev/}p2/start") * 512))
check $N/limits/whole-disk-reaches-the-partition writes "$mbr" "$p2_start"
check $N/limits/root-clears-the-flag sh -c "blockdev --setrw '${mbr}p2' && test \"\$(blockdev --getro '${mbr}p2')\" = 0"
check $N/limits/writable-after-clearing writes "${mbr}p2"

# GPT with partition names: "recovery" is the recovery whatever it holds (here: nothing yet),
# and a squashfs under another name is made read-only too (the rule's documented choice).
truncate -s 24M "$T/gpt.img"
printf 'label: gpt\nsize=4M, name=boot\nsize=4M, name=recovery\nsize=4M, name=main\nsize=4M, name=data\n' |
	sfdisk --quiet --no-reread --no-tell-kernel "$T/gpt.img" >/dev/null &&
	gpt=$(loop_attach "$T/gpt.img" -P) && loop_partitions "$gpt" &&
	dd if="$T/recovery.squashfs" of="${gpt}p3" bs=1M conv=fsync status=none &&
	dd if="$T/data.ext4" of="${gpt}p4" bs=1M conv=fsync status=none ||
	{ fail $N/main/gpt "cannot make the GPT card with its partitions"; exit 0; }
expect_rule $N/main/gpt/named-recovery-read-only "${gpt}p2" yes
expect_rule $N/main/gpt/squashfs-read-only "${gpt}p3" yes
expect_rule $N/main/gpt/boot-left-alone "${gpt}p1" no
expect_rule $N/main/gpt/data-left-alone "${gpt}p4" no
expect_write_refused $N/main/gpt/dd "${gpt}p2"
