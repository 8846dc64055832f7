#!/usr/bin/env bash
# scripts/flash-sdcard against loop devices standing in for cards: raw and compressed images
# written and read back identical (and nothing past the image touched); the refusals, each with
# the device's bytes unchanged: a mounted file system on the card or on one of its partitions,
# swap on it, device-mapper on it, a partition node, the disk that holds /, a card too small, a
# read-only card, a regular file, a damaged download, no confirmation; a card whose writes fail.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/lib/disk.sh"
FLASH=$ROOT/scripts/flash-sdcard
N=/flash-sdcard

for c in sfdisk partx zstd xz gzip mkfs.ext4 mkswap; do
	command -v "$c" >/dev/null || { fail $N "$c is missing: run scripts/install-deps"; exit 0; }
done

# The card image: an MBR disk with two partitions of random bytes (the tool does not look
# inside), 512 bytes longer than a whole number of 4 KiB blocks so that the last, short block
# is exercised (dd leaves O_DIRECT for it, the read-back cannot use O_DIRECT). A second image
# of whole MiB is the one compressed, and takes the O_DIRECT read-back.
random_file "$T/p1" $((3 << 20)) && random_file "$T/p2" $((4 << 20)) &&
	disk_build "$T/card.img" "$T/p1" "$T/p2" && cp "$T/card.img" "$T/round.img" && truncate -s +512 "$T/card.img" ||
	{ fail $N "cannot make the card image"; exit 0; }
zstd -q -19 -o "$T/round.img.zst" "$T/round.img" && xz -T1 -k -c "$T/round.img" >"$T/round.img.xz" &&
	gzip -c "$T/round.img" >"$T/round.img.gz" || { fail $N "cannot compress the image"; exit 0; }

# card NAME [MIB]: a loop device over a file of random bytes (a used card, 16 MiB by default).
card() {
	random_file "$T/card-$1" $((${2:-16} << 20)) && loop_attach "$T/card-$1"
}

# tail_digest DEVICE OFFSET: the SHA-256 of DEVICE's bytes from OFFSET on.
tail_digest() { tail -c +$(($2 + 1)) "$1" | openssl dgst -sha256 -r | cut -c1-64; }

# expect_flashed NAME IMAGE RAW DEVICE [options...]: flash-sdcard --yes succeeds, DEVICE starts
# with RAW's bytes (IMAGE decompressed), is unchanged after them, and the output says verified.
expect_flashed() {
	local name=$1 image=$2 raw=$3 dev=$4 size rest
	shift 4
	size=$(size_of "$raw")
	rest=$(tail_digest "$dev" "$size")
	"$FLASH" --yes "$@" "$image" "$dev" >"$T/flash.out" 2>&1 </dev/null
	local rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "exit $rc: $(tail -n 3 "$T/flash.out" | tr '\r\n' '  ')"
	elif ! cmp -s -n "$size" "$raw" "$dev"; then
		fail "$name" "the device differs from the image: $(cmp -n "$size" "$raw" "$dev" 2>&1)"
	elif [ "$(tail_digest "$dev" "$size")" != "$rest" ]; then
		fail "$name" "bytes after the image changed"
	elif ! grep -q "$dev written and verified: .*sha256 $(digest "$raw")" "$T/flash.out"; then
		fail "$name" "the output does not say verified with the image's hash: $(tail -n 1 "$T/flash.out")"
	else
		pass "$name"
	fi
}

# expect_refused NAME TEXT DEVICE [flash-sdcard arguments...]: exit 3, the output contains TEXT
# and says nothing was written, and DEVICE (unless "-": too large to hash) holds the same bytes.
expect_refused() {
	local name=$1 text=$2 dev=$3 before=""
	shift 3
	[ "$dev" = - ] || before=$(digest "$dev")
	"$FLASH" "$@" >"$T/flash.out" 2>&1 </dev/null
	local rc=$?
	if [ $rc -ne 3 ]; then
		fail "$name" "exit $rc, expected 3: $(tail -n 3 "$T/flash.out" | tr '\r\n' '  ')"
	elif ! grep -q -- "$text" "$T/flash.out"; then
		fail "$name" "the message does not say '$text': $(head -n 2 "$T/flash.out" | tr '\n' ' ')"
	elif ! grep -q 'nothing was written' "$T/flash.out"; then
		fail "$name" "it does not say that nothing was written"
	elif [ -n "$before" ] && [ "$(digest "$dev")" != "$before" ]; then
		fail "$name" "refused, but the device's bytes changed"
	else
		pass "$name"
	fi
}

# ---- written and read back ----

dev=$(card raw)
expect_flashed $N/raw "$T/card.img" "$T/card.img" "$dev"
check $N/progress grep -qE 'bytes .* copied, .* [kMG]?B/s' "$T/flash.out"
for ext in zst xz gz; do
	expect_flashed $N/compressed/$ext "$T/round.img.$ext" "$T/round.img" "$(card "$ext")"
done
expect_flashed $N/exact-size "$T/round.img" "$T/round.img" "$(card exact 8)"
# --force-file: into a regular file on purpose, an existing one (kept beyond the image, as a
# card) or a new one.
random_file "$T/file-card" $((16 << 20))
expect_flashed $N/force-file/existing "$T/card.img" "$T/card.img" "$T/file-card" --force-file
if "$FLASH" --yes --force-file "$T/card.img" "$T/new-file" >"$T/flash.out" 2>&1 </dev/null && cmp -s "$T/card.img" "$T/new-file"; then
	pass $N/force-file/new
else
	fail $N/force-file/new "$(tail -n 2 "$T/flash.out" | tr '\r\n' '  ')"
fi

# Confirmation: without --yes it asks, showing the device and its size; only "yes" goes on.
dev=$(card confirm)
before=$(digest "$dev")
echo no | "$FLASH" "$T/card.img" "$dev" >"$T/flash.out" 2>&1
rc=$?
if [ $rc -ne 3 ] || ! grep -q 'not confirmed' "$T/flash.out" || [ "$(digest "$dev")" != "$before" ]; then
	fail $N/confirm/no "exit $rc: $(tail -n 2 "$T/flash.out" | tr '\n' ' ')"
else
	pass $N/confirm/no
fi
check $N/confirm/shows-device grep -q "^  $dev: .*16.8 MB (16777216 bytes)" "$T/flash.out"
if echo yes | "$FLASH" "$T/card.img" "$dev" >"$T/flash.out" 2>&1 && cmp -s -n "$(size_of "$T/card.img")" "$T/card.img" "$dev"; then
	pass $N/confirm/yes
else
	fail $N/confirm/yes "$(tail -n 2 "$T/flash.out" | tr '\r\n' '  ')"
fi

# ---- refused ----

# A file system on the whole card, mounted (made in full, so that nothing writes behind the
# test's back while it is mounted).
dev=$(card mounted) && mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" &&
	mount_at "$dev" "$T/mnt" && sync
expect_refused $N/refused/mounted "is in use: $dev on $T/mnt (ext4)" "$dev" --yes "$T/card.img" "$dev"

# A partition of the card mounted, and a partition node as the device.
mkdir -p "$T/empty"
ext4_image "$T/part.ext4" 4 "$T/empty" data && random_file "$T/part2" $((4 << 20)) &&
	disk_build "$T/parted.img" "$T/part.ext4" "$T/part2" && truncate -s 16M "$T/parted.img"
if dev=$(loop_attach "$T/parted.img" -P) && loop_partitions "$dev"; then
	expect_refused $N/refused/partition "is partition 2 of $dev, not a whole card.*Give the whole device: $dev" \
		"${dev}p2" --yes "$T/card.img" "${dev}p2"
	mount_at "${dev}p1" "$T/part-mnt" && sync
	expect_refused $N/refused/mounted-partition "is in use: ${dev}p1 on $T/part-mnt" "$dev" --yes "$T/card.img" "$dev"
else
	skip $N/refused/partition "no partition nodes for a loop device here"
	skip $N/refused/mounted-partition "no partition nodes for a loop device here"
fi

# Swap on the card: swapped on only for the one run, and off again at once.
dev=$(card swap)
if mkswap -q "$dev" && swapon "$dev" 2>/dev/null; then
	expect_refused $N/refused/swap "holds swap in use ($dev)" - --yes "$T/card.img" "$dev"
	swapoff "$dev"
else
	skip $N/refused/swap "swapon on a loop device is not allowed here"
fi

# Something stacked on the card (device-mapper).
if dm_available linear; then
	dev=$(card holder)
	dm_create holder "0 2048 linear $dev 0" >/dev/null
	expect_refused $N/refused/holder "is in use by /dev/dm-[0-9]* (lb-it-" "$dev" --yes "$T/card.img" "$dev"
else
	skip $N/refused/holder "no device-mapper in this kernel"
fi

dev=$(card small 4)
expect_refused $N/refused/too-small "holds 4.2 MB (4194304 bytes) but the image needs" "$dev" --yes "$T/card.img" "$dev"
random_file "$T/card-ro" $((16 << 20))
dev=$(loop_attach "$T/card-ro" -r)
expect_refused $N/refused/read-only "is read-only" "$dev" --yes "$T/card.img" "$dev"
dev=$(card blkro) && writable_on_exit "$dev" && blockdev --setro "$dev"
expect_refused $N/refused/read-only-blkroset "is read-only.*blockdev --setrw" "$dev" --yes "$T/card.img" "$dev"
random_file "$T/plain-file" $((16 << 20))
expect_refused $N/refused/regular-file "is a regular file, not a device.*--force-file" "$T/plain-file" --yes "$T/card.img" "$T/plain-file"
expect_refused $N/refused/no-device "no such device" - --yes "$T/card.img" "$T/no-such-device"
expect_refused $N/refused/char-device "is not a block device" - --yes "$T/card.img" /dev/null
head -c -2000 "$T/round.img.xz" >"$T/damaged.img.xz"
dev=$(card damaged)
expect_refused $N/refused/damaged-image "cannot be decompressed" "$dev" --yes "$T/damaged.img.xz" "$dev"

# The disk that holds /. Never written even if the check were broken: no --yes and no answer
# on stdin, and an image (sparse) larger than the disk, so that the size check would stop it
# too; that last net is tried on a small loop device first, and the disk is used only when it
# holds.
root_source=$(findmnt -no SOURCE / 2>/dev/null)
root_disk=""
if [ -b "$root_source" ]; then
	root_name=$(basename "$(readlink -f "$root_source")")
	if [ -e "/sys/class/block/$root_name/partition" ]; then
		root_name=$(basename "$(dirname "$(readlink -f "/sys/class/block/$root_name")")")
	fi
	[ -b "/dev/$root_name" ] && root_disk=/dev/$root_name
fi
if [ -z "$root_disk" ]; then
	skip $N/refused/root-disk "the root file system's source '${root_source:-?}' is not a block device"
else
	truncate -s $(($(cat "/sys/class/block/$root_name/size") * 512 + (1 << 20))) "$T/huge.img"
	dev=$(card net 4)
	net=$(expect_refused $N/refused/root-disk/safety-net "but the image needs" "$dev" --yes "$T/huge.img" "$dev")
	echo "$net"
	if [ "${net#ok }" = "$net" ]; then
		fail $N/refused/root-disk "not run: the safety net does not hold"
	else
		expect_refused $N/refused/root-disk "$root_disk holds the running system (/" - "$T/huge.img" "$root_disk"
	fi
fi

# ---- a card whose writes fail ----

# A loop device that claims 32 MiB over a file on a 12 MiB file system: writes fail once that
# is full. Exit 1, and the message says the card must not be used.
truncate -s 12M "$T/full.fs" && full=$(loop_attach "$T/full.fs") &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$full" && mount_at "$full" "$T/full" &&
	truncate -s 32M "$T/full/backing" && over=$(loop_attach "$T/full/backing")
random_file "$T/big.img" $((24 << 20))
"$FLASH" --yes "$T/big.img" "$over" >"$T/flash.out" 2>&1 </dev/null
rc=$?
if [ $rc -eq 1 ] && grep -q "writing $over failed.*must not be used" "$T/flash.out"; then
	pass $N/write-error
else
	fail $N/write-error "exit $rc: $(tail -n 2 "$T/flash.out" | tr '\r\n' '  ')"
fi
loop_detach "$over"
