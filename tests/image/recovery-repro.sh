# The recovery image's packing step is reproducible: the staged tree that `make recovery` left in
# build/BOARD/rootfs (RECOVERY_BOARD, default qemu-x86_64), packed again with the same options
# and SOURCE_DATE_EPOCH, gives the very bytes of build/BOARD/recovery.squashfs (and of its
# .sha256). The whole build twice from scratch, bootstrap included, is `make
# recovery-repro-check` (minutes; not in make check).
source "$(dirname "$0")/../lib.sh"

BOARD=${RECOVERY_BOARD:-qemu-x86_64}
OUT=${RECOVERY_OUT:-$ROOT/build/$BOARD}
# the default board's test name stays as it was
N=/image/recovery-repro
[ "$BOARD" = qemu-x86_64 ] || N=/image/$BOARD/recovery-repro
for f in recovery.squashfs recovery.squashfs.sha256 recovery.info rootfs/usr; do
	[ -e "$OUT/$f" ] || { fail $N "$OUT/$f is missing: run make recovery BOARD=$BOARD"; exit 0; }
done
info() { sed -n "s/^$1=//p" "$OUT/recovery.info"; }
want=$(cut -c1-64 "$OUT/recovery.squashfs.sha256")
have=$(digest "$OUT/recovery.squashfs")
if [ "$have" != "$want" ]; then
	fail $N-sha256-file "recovery.squashfs.sha256 says $want, the file is $have"
else
	pass $N-sha256-file
fi
t0=$SECONDS
SOURCE_DATE_EPOCH=$(info source_date_epoch) SQUASHFS_LEVEL=$(info squashfs_level) \
	"$ROOT/rootfs/build" --pack "$OUT/rootfs" "$T/again.squashfs" >"$T/pack.out" 2>&1 ||
	{ fail $N "packing again failed: $(tail -n 3 "$T/pack.out")"; exit 0; }
again=$(digest "$T/again.squashfs")
if [ "$again" = "$want" ]; then
	pass "$N # packed again in $((SECONDS - t0)) s: identical"
else
	fail $N "packed again: $again, the build made $want ($(cmp "$T/again.squashfs" "$OUT/recovery.squashfs" 2>&1 | head -n 1))"
fi
