# How the recovery's initramfs finds its root (rootfs/initramfs/init, find_root and the
# functions before it), run on this host's real loop devices with the busybox of the built
# initramfs (build/qemu-x86_64/initrd.img, unpacked: the same applets, linked the same way):
# root=PARTUUID=XXXXXXXX-NN finds partition NN (a primary one, a logical one) of the disk whose
# MBR identifier is XXXXXXXX, in either case, and says which device it chose; two disks with the
# identifier give the first in /sys/class/block's order and a warning; a partition that is not
# there fails after rootwait; a PARTUUID that is not an MBR one is refused at once; /dev/NAME is
# taken as it is. The identifier is a random one, so that no other disk of the host has it.
# tests/image/rpi-sdcard.sh boots the same code on a kernel (QEMU raspi3b, root=PARTUUID=).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/lib/disk.sh"

N=/image/initramfs-root
INITRD=${INITRAMFS_INITRD:-$ROOT/build/qemu-x86_64/initrd.img}
INIT=$ROOT/rootfs/initramfs/init
for c in zstd cpio sfdisk partx; do
	command -v "$c" >/dev/null || { fail $N "$c is missing: run scripts/install-deps"; exit 0; }
done
[ -s "$INITRD" ] || { fail $N "$INITRD is missing: run make recovery"; exit 0; }

# The initramfs's /bin: busybox and the applets init is linked with.
mkdir -p "$T/ir"
(cd "$T/ir" && zstd -dcq "$INITRD" | cpio -id --quiet bin bin/*) && [ -x "$T/ir/bin/busybox" ] ||
	{ fail $N "no bin/busybox in $INITRD"; exit 0; }
# The part of init that finds the root, without what runs around it (mounts, modules, the
# switch to the real root): from mbr_id to the call of find_root.
sed -n '/^# mbr_id DISK/,/^find_root$/p' "$INIT" | sed '$d' >"$T/find-root.sh"
grep -q '^find_root() {' "$T/find-root.sh" || { fail $N "no find_root in $INIT"; exit 0; }
cat >"$T/driver.sh" <<-EOF
	fail() { echo "lifeboat initramfs: \$*"; echo "FAILED"; exit 1; }
	root=\$1 rootwait=\$2
	. "$T/find-root.sh"
	find_root
	echo "dev=\$dev"
EOF
# find_root ROOT ROOTWAIT: the output of find_root in the initramfs's shell, with its PATH
find_root() { env -i PATH="$T/ir/bin" "$T/ir/bin/sh" "$T/driver.sh" "$1" "$2" 2>&1; }

id=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
# card OUT: a disk like the rpi card (1 and 2 primary, 5 and 6 logical), 1 MiB partitions,
# the disk identifier $id
card() {
	local i
	for i in 1 2 5 6; do truncate -s 1M "$T/part$i"; done
	DISK_ID=0x$id disk_build "$1" "$T/part1" "$T/part2" extended "$T/part5" "$T/part6"
}
card "$T/a.img" && card "$T/b.img" || { fail $N "cannot make the disks"; exit 0; }
A=$(loop_attach "$T/a.img" -P) && loop_partitions "$A" ||
	{ fail $N "cannot attach $T/a.img with its partitions"; exit 0; }
[ -b "${A}p5" ] || { fail $N "no ${A}p5 (partx: $(partx --show "$A" 2>&1 | tr '\n' ' '))"; exit 0; }

t=$SECONDS
out=$(find_root "PARTUUID=$id-02" 1)
if grep -qx "dev=${A}p2" <<<"$out" && grep -qx "lifeboat initramfs: root=PARTUUID=$id-02 is ${A}p2" <<<"$out" &&
	! grep -q warning <<<"$out"; then
	pass "$N/partuuid-primary # PARTUUID=$id-02 is ${A}p2 in $((SECONDS - t)) s"
else
	fail $N/partuuid-primary "expected ${A}p2: $(tr '\n' ' ' <<<"$out")"
fi
out=$(find_root "PARTUUID=$id-05" 1)
check $N/partuuid-logical grep -qx "dev=${A}p5" <<<"$out"
out=$(find_root "PARTUUID=$(tr a-f A-F <<<"$id")-06" 1)
check $N/partuuid-upper-case grep -qx "dev=${A}p6" <<<"$out"
out=$(find_root "${A}p2" 1)
check $N/dev-name-as-it-is sh -c "grep -qx 'dev=${A}p2' <<'EOF'
$out
EOF
! grep -q ' is ' <<'EOF'
$out
EOF"

# partition 7 does not exist: rootwait (1 s), then the message
t=${EPOCHREALTIME/./}
out=$(find_root "PARTUUID=$id-07" 1)
ms=$(((${EPOCHREALTIME/./} - t) / 1000))
if grep -qx FAILED <<<"$out" && grep -q "the root device PARTUUID=$id-07 did not appear within 1 s" <<<"$out" && [ "$ms" -ge 1000 ]; then
	pass "$N/partuuid-missing # failed after $ms ms"
else
	fail $N/partuuid-missing "after $ms ms: $(tr '\n' ' ' <<<"$out")"
fi
# not an MBR PARTUUID (a GPT partition's GUID, no partition number): refused without waiting
for bad in "PARTUUID=$id" "PARTUUID=0fc63daf-8483-4772-8e79-3d69d8477de4" "PARTUUID=$id-2" "PARTUUID=${id}zz-02"; do
	t=$SECONDS
	out=$(find_root "$bad" 5)
	if grep -qx FAILED <<<"$out" && grep -q "is not an MBR partition's PARTUUID .*root=PARTLABEL=" <<<"$out" &&
		[ $((SECONDS - t)) -lt 4 ]; then
		pass "$N/refuses/${bad#PARTUUID=}"
	else
		fail "$N/refuses/${bad#PARTUUID=}" "after $((SECONDS - t)) s: $(tr '\n' ' ' <<<"$out")"
	fi
done

# a second disk with the same identifier: the first in /sys/class/block's order, and a warning
B=$(loop_attach "$T/b.img" -P) && loop_partitions "$B" || { fail $N "cannot attach $T/b.img"; exit 0; }
first=$(printf '%s\n' "${A#/dev/}" "${B#/dev/}" | LC_ALL=C sort | head -n 1)
out=$(find_root "PARTUUID=$id-02" 1)
if grep -qx "dev=/dev/${first}p2" <<<"$out" &&
	grep -q "warning: root=PARTUUID=$id-02 names 2 partitions .*more than one disk has the identifier $id.*using the first, /dev/${first}p2" <<<"$out"; then
	pass "$N/partuuid-two-disks # $(grep warning <<<"$out" | cut -c1-150)..."
else
	fail $N/partuuid-two-disks "expected /dev/${first}p2 and a warning: $(tr '\n' ' ' <<<"$out")"
fi
