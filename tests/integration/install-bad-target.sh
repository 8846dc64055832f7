#!/usr/bin/env bash
# Installs onto targets that must be refused or that fail under the installer: mounted or
# claimed devices, the running root disk, read-only devices and mounts, paths that are no
# target at all, and devices or file systems whose writes fail halfway (EIO, ENOSPC).
source "$(dirname "$0")/../lib.sh"

make_keys || { fail /install/target "cannot make keys"; exit 1; }
make_image "$T/img" 4 && make_bundle "$T/b" "$T/img" || { fail /install/target "cannot make the bundle"; exit 1; }

# small_ext4 NAME MIB: a fresh ext4 on a loop device (initialised in full, so that nothing is
# written behind the tests' backs once it is mounted); its device goes to stdout.
small_ext4() {
	local dev
	truncate -s "$2M" "$T/$1.fs" && dev=$(loop_attach "$T/$1.fs") &&
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" && echo "$dev"
}

# ---- in use ----
dev=$(small_ext4 mounted 16) && mount_at "$dev" "$T/mnt" && sync
expect_error /install/target/mounted target-busy untouched "$dev" <"$T/b"

# Mounted in another mount namespace: invisible in this one's mount table, but the kernel's
# exclusive claim on the device still refuses the installer's O_EXCL open.
dev=$(small_ext4 claimed 16)
mkdir -p "$T/ns"
unshare -m --propagation private sh -c 'mount "$1" "$2" && touch "$3" && exec sleep 60' sh "$dev" "$T/ns" "$T/ns.ready" &
holder=$!
for _ in $(seq 50); do [ -e "$T/ns.ready" ] && break; sleep 0.1; done
if [ ! -e "$T/ns.ready" ]; then
	skip /install/target/claimed "cannot mount in a private mount namespace here"
else
	expect_error /install/target/claimed target-busy untouched "$dev" <"$T/b"
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# ---- the running system's root device ----
# Only the code is checked: the bytes of / cannot be compared. As a second line of defence the
# bundle is hand-made (unsigned, all zero chunks) with an image larger than the device, so that
# even a broken root check would stop at "image-too-large" before writing anything; that net is
# tried on a file first, and the root device is used only when it holds.
expect_root() {
	local name=$1 target=$2 rc
	install_to "$target" --allow-unsigned <"$T/root.bundle"
	rc=$?
	if [ $rc -eq 0 ]; then
		fail "$name" "install succeeded"
	elif [ "$(json_field code)" != target-is-root ]; then
		fail "$name" "error $(json_field code), expected target-is-root: $(json_field message)"
	elif [ $rc -ne "$(code_number target-is-root)" ] || [ "$(json_field target)" != untouched ]; then
		fail "$name" "exit $rc, target $(json_field target)"
	else
		pass "$name"
	fi
}
root=$(findmnt -no SOURCE / 2>/dev/null)
cap=$(lsblk -bdno SIZE "$root" 2>/dev/null)
cs=$((16 << 20))
chunks=$((${cap:-0} / cs + 1))
if [ -z "$root" ] || [ ! -b "$root" ]; then
	skip /install/target/root "the root file system's source '${root:-?}' is not a block device"
elif [ -z "$cap" ] || [ "$cap" -eq 0 ]; then
	skip /install/target/root "the size of $root is unknown"
elif [ $chunks -gt 65536 ]; then
	skip /install/target/root "$root is too large for a bundle larger than it"
else
	{
		printf 'lifeboat-manifest 1\ncompatible test-board\nversion 1.0\ndescription root test\n'
		printf 'build-time 0\nmin-recovery-version 0\nimage rootfs\nfstype raw\nsize %s\n' $((chunks * cs))
		printf 'sha256 %064d\nchunk-size %s\nchunks %s\n' 0 $cs $chunks
		yes zero | head -n $chunks
		echo end
	} >"$T/root.manifest"
	{
		printf LIFEBOAT
		printf '%08x%08x%08x' 1 "$(size_of "$T/root.manifest")" 0 | xxd -r -p
		cat "$T/root.manifest"
	} >"$T/root.bundle"
	head -c 1M /dev/urandom >"$T/root-net"
	net=$(expect_error /install/target/root/safety-net image-too-large untouched "$T/root-net" --allow-unsigned <"$T/root.bundle")
	echo "$net"
	if [ "${net#ok }" = "$net" ]; then
		fail /install/target/root "not run: the safety net does not hold"
	else
		expect_root /install/target/root "$root"
		ln -s "$root" "$T/root-link"
		expect_root /install/target/root/symlink "$T/root-link"
	fi
fi

# ---- read-only ----
truncate -s 8M "$T/ro"
dev=$(loop_attach "$T/ro" -r)
expect_error /install/target/readonly/device target-readonly untouched "$dev" <"$T/b"
# Read-only in the kernel's block layer (BLKROSET), as the recovery's write protection leaves
# its own partition (protect-recovery, 61-lifeboat-recovery-ro.rules): an installer pointed at
# the recovery is refused before writing, and says what to look at.
truncate -s 8M "$T/blkro"
dev=$(loop_attach "$T/blkro") && writable_on_exit "$dev" && blockdev --setro "$dev"
expect_error /install/target/readonly/blkroset target-readonly untouched "$dev" <"$T/b"
if json_field message | grep -q "target $dev refuses writes.*read-only"; then
	pass /install/target/readonly/message
else
	fail /install/target/readonly/message "the message does not say the device is read-only: $(json_field message)"
fi
dev=$(small_ext4 rofs 16) && mount_at "$dev" "$T/rofs" && head -c 6M /dev/urandom >"$T/rofs/target" &&
	mount -o remount,ro "$T/rofs"
expect_error /install/target/readonly/file-on-ro-mount target-readonly untouched "$T/rofs/target" <"$T/b"

# ---- not a target ----
expect_error /install/target/missing target-invalid untouched "$T/no-such-target" <"$T/b"
if [ -e "$T/no-such-target" ]; then fail /install/target/missing/not-created "the install created the target"; else pass /install/target/missing/not-created; fi
mkdir -p "$T/dir"
expect_error /install/target/directory target-invalid untouched "$T/dir" <"$T/b"
expect_error /install/target/char-device target-invalid untouched /dev/null <"$T/b"
mkfifo "$T/fifo"
expect_error /install/target/fifo target-invalid untouched "$T/fifo" <"$T/b"

# ---- two roles configured onto one target ----
# They would overwrite each other (and the read-back would blame the card): refused up front,
# however the second path names the same file or device.
random_file "$T/boot" 100000
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 1.0 \
	--image rootfs="$T/img" --image boot="$T/boot" -o "$T/two"
head -c 6M /dev/urandom >"$T/shared"
expect_error /install/target/shared/file usage untouched "$T/shared" --target boot="$T/shared" <"$T/two"
ln -s shared "$T/shared-link"
expect_error /install/target/shared/symlink usage untouched "$T/shared" --target boot="$T/shared-link" <"$T/two"
head -c 6M /dev/urandom >"$T/shared-backing"
dev=$(loop_attach "$T/shared-backing")
expect_error /install/target/shared/device usage untouched "$dev" --target boot="$dev" <"$T/two"

# ---- targets that fail halfway ----
random_file "$T/img16" $((16 << 20))
make_bundle "$T/b16" "$T/img16"

# A device whose first 4 MiB work and whose rest fails every I/O with EIO; one that accepts
# every write, keeps nothing and reads zeros; and a fake-capacity card, 20 MiB that wrap around
# 8 MiB, where a later chunk silently overwrites an earlier one. Only the read-back catches the
# last two; the wrap returns real, non-zero data of the wrong chunk.
if ! dm_available linear error zero; then
	skip /install/target/write-error/dm "no device-mapper in this kernel"
	skip /install/target/readback/dm-zero "no device-mapper in this kernel"
	skip /install/target/readback/fake-capacity "no device-mapper in this kernel"
else
	truncate -s 4M "$T/dm-linear"
	under=$(loop_attach "$T/dm-linear")
	if ! dm=$(dm_create ioerr "0 8192 linear $under 0" "8192 32768 error"); then
		fail /install/target/write-error/dm "dmsetup create failed"
	else
		expect_error /install/target/write-error/dm write-failed invalid "$dm" <"$T/b16"
	fi
	if ! dm=$(dm_create zero "0 40960 zero"); then
		fail /install/target/readback/dm-zero "dmsetup create failed"
	else
		expect_error /install/target/readback/dm-zero readback-mismatch invalid "$dm" <"$T/b16"
	fi
	truncate -s 8M "$T/dm-wrap"
	under=$(loop_attach "$T/dm-wrap")
	if ! dm=$(dm_create wrap "0 16384 linear $under 0" "16384 16384 linear $under 0" "32768 8192 linear $under 0"); then
		fail /install/target/readback/fake-capacity "dmsetup create failed"
	else
		expect_error /install/target/readback/fake-capacity readback-mismatch invalid "$dm" <"$T/b16"
		if json_field message | grep -q 'chunk [0-9]* of 16 .*reads back different.*fake capacity'; then
			pass /install/target/readback/fake-capacity/message
		else
			fail /install/target/readback/fake-capacity/message "the message does not name a chunk and the card: $(json_field message)"
		fi
	fi
fi

# A loop device that claims 64 MiB but whose backing file lives on a 20 MiB file system: its
# writes fail once that is full (a block device failing mid-stream without device-mapper).
dev=$(small_ext4 full-backing 20) && mount_at "$dev" "$T/full-backing" && truncate -s 64M "$T/full-backing/backing"
over=$(loop_attach "$T/full-backing/backing")
random_file "$T/img40" $((40 << 20))
make_bundle "$T/b40" "$T/img40"
expect_error /install/target/write-error/backing-full write-failed invalid "$over" <"$T/b40"
loop_detach "$over"

# ENOSPC: a sparse 64 MiB file on a 20 MiB file system as the target.
dev=$(small_ext4 enospc 20) && mount_at "$dev" "$T/enospc" && truncate -s 64M "$T/enospc/target"
expect_error /install/target/enospc write-failed invalid "$T/enospc/target" <"$T/b40"
if ! json_field message | grep -q 'No space left on device'; then
	fail /install/target/enospc/message "the message does not say the disk is full: $(json_field message)"
else
	pass /install/target/enospc/message
fi
