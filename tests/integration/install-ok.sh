#!/usr/bin/env bash
# Installs that must succeed: onto plain files and loop devices, from a redirected file, a pipe
# and a path, with and without read-back, odd image sizes, zero chunks over old data, two images,
# and a sparse 4 GiB image. Each checks that the target then holds exactly the image.
source "$(dirname "$0")/../lib.sh"

make_keys || { fail /install/ok "cannot make keys"; exit 1; }

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
elapsed_ms() { echo $((($(now) - $1) / 1000)); }

# ---- a small ext4 image onto a file and a loop device ----
make_image "$T/img" 8 && make_bundle "$T/b" "$T/img" || { fail /install/ok "cannot make the bundle"; exit 1; }

truncate -s 8M "$T/file"
expect_installed /install/ok/file "$T/file" "$T/img" <"$T/b"

truncate -s 10M "$T/loop-backing"
loop=$(loop_attach "$T/loop-backing")
expect_installed /install/ok/loop "$loop" "$T/img" <"$T/b"

# --no-readback: same result, and the JSON says the read-back was skipped.
no_readback() {
	local name=$1 target=$2 out
	out=$(expect_installed "$name" "$target" "$T/img" --no-readback <"$T/b")
	if [ "${out#ok }" = "$out" ]; then
		echo "$out"
	elif [ "$(json_field readback)" != false ]; then
		fail "$name" "JSON readback is $(json_field readback)"
	else
		pass "$name"
	fi
}
head -c 8M /dev/urandom >"$T/file"
no_readback /install/ok/no-readback/file "$T/file"
head -c 10M /dev/urandom | dd of="$loop" bs=1M status=none iflag=fullblock oflag=direct
no_readback /install/ok/no-readback/loop "$loop"

head -c 8M /dev/urandom >"$T/file"
cat "$T/b" | expect_installed /install/ok/stdin-pipe "$T/file" "$T/img"

# The bundle named by path rather than on standard input.
head -c 8M /dev/urandom >"$T/file"
if ! "$LB" install --json --config /dev/null --keyring "$T/keyring" --compatible test-board \
	--target rootfs="$T/file" "$T/b" >"$T/out.json" 2>"$T/err.txt"; then
	fail /install/ok/bundle-path "$(json_field message)"
elif ! cmp -s -n "$(size_of "$T/img")" "$T/img" "$T/file"; then
	fail /install/ok/bundle-path "the target differs from the image"
else
	pass /install/ok/bundle-path
fi

# ---- sizes that are not a multiple of the chunk size ----
make_image "$T/odd" 5 && random_file "$T/tail" 12345 && cat "$T/tail" >>"$T/odd"
for cs in 64K 4M; do
	make_bundle "$T/b-$cs" "$T/odd" --chunk-size "$cs" || fail "/install/ok/odd-size/$cs" "create failed"
	head -c 6M /dev/urandom >"$T/file"
	expect_installed "/install/ok/odd-size/$cs/file" "$T/file" "$T/odd" <"$T/b-$cs"
	head -c 10M /dev/urandom | dd of="$loop" bs=1M status=none iflag=fullblock oflag=direct
	expect_installed "/install/ok/odd-size/$cs/loop" "$loop" "$T/odd" <"$T/b-$cs"
done
# Exactly the image's size: the last, short chunk ends at the end of the file.
head -c "$(size_of "$T/odd")" /dev/urandom >"$T/file"
expect_installed /install/ok/odd-size/exact-target "$T/file" "$T/odd" <"$T/b-64K"

# ---- zero chunks over a target full of old data ----
# Chunks (1 MiB): data, zero, zero, data, zero, data, then a 12345-byte zero tail. Zero chunks
# carry no payload; the target must read them back as zeros, and bytes after the image stay.
{
	head -c 1M /dev/urandom
	head -c 2M /dev/zero
	head -c 1M /dev/urandom
	head -c 1M /dev/zero
	head -c 1M /dev/urandom
	head -c 12345 /dev/zero
} >"$T/zimg"
make_bundle "$T/zb" "$T/zimg"
zeros=$("$LBB" info --json "$T/zb" | jq '.images[0].zero_chunks')
zero_chunks() {
	local name=$1 target=$2 size
	size=$(size_of "$T/zimg")
	if [ "$zeros" != 4 ]; then
		fail "$name" "the bundle has $zeros zero chunks, expected 4"
		return
	fi
	head -c 8M /dev/urandom | dd of="$target" bs=1M status=none iflag=fullblock conv=notrunc oflag=direct
	local after_image out
	after_image=$(tail -c +$((size + 1)) "$target" | head -c $((8 * 1048576 - size)) | sha256sum)
	out=$(expect_installed "$name" "$target" "$T/zimg" <"$T/zb")
	if [ "${out#ok }" = "$out" ]; then
		echo "$out"
	elif [ "$(tail -c +$((size + 1)) "$target" | head -c $((8 * 1048576 - size)) | sha256sum)" != "$after_image" ]; then
		fail "$name" "bytes after the image changed"
	else
		pass "$name"
	fi
}
truncate -s 0 "$T/file"
zero_chunks /install/ok/zero-chunks/file "$T/file"
zero_chunks /install/ok/zero-chunks/loop "$loop"

# ---- two images to two targets ----
make_image "$T/root2" 4 && random_file "$T/boot2" $((2 * 1048576 + 777))
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 2.0 \
	--image rootfs="$T/root2" --image boot="$T/boot2" -o "$T/b2" || fail /install/ok/two-images "create failed"
head -c 4M /dev/urandom >"$T/t-root"
head -c 3M /dev/urandom >"$T/t-boot"
install_to "$T/t-root" --target boot="$T/t-boot" <"$T/b2"
rc=$?
if [ $rc -ne 0 ]; then
	fail /install/ok/two-images "exit $rc: $(json_field message)"
elif [ "$(json_field image_bytes)" != $(($(size_of "$T/root2") + $(size_of "$T/boot2"))) ]; then
	fail /install/ok/two-images "image_bytes $(json_field image_bytes)"
elif ! cmp -s -n "$(size_of "$T/root2")" "$T/root2" "$T/t-root"; then
	fail /install/ok/two-images "rootfs target differs"
elif ! cmp -s -n "$(size_of "$T/boot2")" "$T/boot2" "$T/t-boot"; then
	fail /install/ok/two-images "boot target differs"
else
	pass /install/ok/two-images
fi

# ---- a sparse 4 GiB image with 400 MiB of data ----
# The data is a random 65537-byte block repeated: zstd shrinks each chunk to about that block, so
# the bundle stays small, yet no two chunks are alike (the period does not divide the chunk
# size, and each region starts at another phase), so a chunk written in the wrong place shows.
GiB=$((1 << 30)) MiB=$((1 << 20))
regions="0 1000 2500 3996" # MiB, 100 MiB of data each; the last one ends at the end of the image
random_file "$T/pattern" 65537
for _ in $(seq 11); do cat "$T/pattern" "$T/pattern" >"$T/pattern2" && mv "$T/pattern2" "$T/pattern"; done
truncate -s 4G "$T/sparse"
phase=0
for off in $regions; do
	phase=$((phase + 4099))
	tail -c +$phase "$T/pattern" | head -c 100M | dd of="$T/sparse" bs=1M seek="$off" conv=notrunc status=none iflag=fullblock
done
rm -f "$T/pattern"

# same_as_sparse TARGET: checks all 4 GiB of TARGET, the data regions against the image and the
# holes between them against zeros (reading the image's holes too would only double the time).
same_as_sparse() {
	local target=$1 at=0 off
	for off in $regions 4096; do
		cmp -s -i $((at * MiB)):0 -n $(((off - at) * MiB)) "$target" /dev/zero || return 1
		[ "$off" -eq 4096 ] && break
		cmp -s -i $((off * MiB)) -n $((100 * MiB)) "$T/sparse" "$target" || return 1
		at=$((off + 100))
	done
}

# create must skip the holes: it is quick, the bundle is small, and it reads about the data
# (rchar counts every byte that read(), pread() or copy_file_range() moved: the data once, and
# the compressed payload once more when it is copied into the bundle).
# A subshell, so that its counters hold its own reads and those of the create it waited for.
rchar() { awk '/^rchar/ { print $2 }' "/proc/$1/io"; }
create_sparse() (
	local me=$BASHPID r0 t0
	r0=$(rchar "$me")
	t0=$(now)
	make_bundle "$T/sb" "$T/sparse" >"$T/create.out" 2>&1 || exit 1
	echo "$(elapsed_ms "$t0") $(($(rchar "$me") - r0))"
)
if ! res=$(create_sparse); then
	fail /install/ok/sparse-4g/create "create failed: $(cat "$T/create.out")"
else
	read -r ms readbytes <<<"$res"
	bsize=$(size_of "$T/sb")
	if [ "$ms" -gt 120000 ]; then # a hang: the bytes read tell whether the holes were read
		fail /install/ok/sparse-4g/create "took $ms ms"
	elif [ "$bsize" -gt $((64 * MiB)) ]; then
		fail /install/ok/sparse-4g/create "the bundle is $bsize bytes"
	elif [ "$readbytes" -gt $((400 * MiB + 2 * bsize + 16 * MiB)) ]; then
		fail /install/ok/sparse-4g/create "read $readbytes bytes: the holes were read"
	else
		pass /install/ok/sparse-4g/create
	fi
fi

# sparse_install NAME TARGET: correct to the byte, the zero chunks not written (wchar counts
# every byte that write() or pwrite() moved: about the 400 MiB of data), and on a file target
# they are holes (punched, not written).
# install_counted TARGET: "EXIT_CODE MS WRITTEN_BYTES" of an install of the sparse bundle, from
# a subshell's counters as create_sparse's.
wchar() { awk '/^wchar/ { print $2 }' "/proc/$1/io"; }
install_counted() (
	local me=$BASHPID w0 t0 rc
	w0=$(wchar "$me")
	t0=$(now)
	install_to "$1" <"$T/sb"
	rc=$?
	echo "$rc $(elapsed_ms "$t0") $(($(wchar "$me") - w0))"
)
sparse_install() {
	local name=$1 target=$2 ms rc written
	read -r rc ms written <<<"$(install_counted "$target")"
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc: $(tail -n 1 "$T/out.json")"
	elif [ "$(json_field image_bytes)" != $((4 * GiB)) ]; then
		fail "$name" "image_bytes $(json_field image_bytes)"
	elif [ "$written" -gt $((400 * MiB + 64 * MiB)) ]; then
		fail "$name" "wrote $written bytes in $ms ms: zero chunks were written"
	elif [ -f "$target" ] && [ $(($(stat -c %b "$target") * 512)) -gt $((GiB / 2)) ]; then
		fail "$name" "the target allocates $(($(stat -c %b "$target") * 512)) bytes: zero chunks were written, not punched"
	elif ! same_as_sparse "$target"; then
		fail "$name" "the target differs from the image"
	else
		pass "$name"
	fi
}
if [ -s "$T/sb" ]; then
	truncate -s 4G "$T/sparse-target"
	sparse_install /install/ok/sparse-4g/file "$T/sparse-target"
	rm -f "$T/sparse-target"
	truncate -s 4G "$T/sparse-backing"
	sparse_install /install/ok/sparse-4g/loop "$(loop_attach "$T/sparse-backing" --direct-io=on)"
else
	fail /install/ok/sparse-4g/file "no bundle"
	fail /install/ok/sparse-4g/loop "no bundle"
fi
