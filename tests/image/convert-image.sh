# scripts/convert-image on a Raspberry Pi OS style card that tests/image/pi-os-fixture builds
# (mmdebstrap of arm64 bookworm in Pi OS's layout; cached in build/pi-os-fixture): every input
# format converts, to the same bundle; the bundle verifies with the development key and installs
# onto files; its boot image's cmdline.txt and its root's fstab, Lifeboat files and units are
# those of the card's layout, and every other file of the root is the input's, metadata
# included (a manifest of both, read from read-only loop mounts); the card, when make-sdcard
# makes rpi cards, holds the bundle's images on p3 and p5; bad inputs are refused with a message
# naming the problem and leave nothing behind.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/lib/disk.sh"

N=/image/convert-image
FIX=$ROOT/build/pi-os-fixture
CONVERT=$ROOT/scripts/convert-image
DEVKEY=$ROOT/build/keys/dev.pub.pem
for f in "$ROOT/build/arm64/bin/lifeboat" "$LBB" "$LB" "$DEVKEY"; do
	[ -e "$f" ] || { fail $N "$f is missing: run make and make recovery BOARD=rpi"; exit 0; }
done
t0=$SECONDS
"$ROOT/tests/image/pi-os-fixture" "$FIX" >"$T/fixture.log" 2>&1 ||
	{ fail $N/fixture "$(tail -n 3 "$T/fixture.log")"; exit 0; }
pass "$N/fixture # $(($(size_of "$FIX/pios.img") >> 20)) MiB image in $((SECONDS - t0)) s ($(tail -n 1 "$T/fixture.log" | sed 's/.*: cached in .*/cached/; s/.* in //'))"

# ---- every format converts, to the same bytes ----

first=""
for f in pios.img pios.img.xz pios.img.zst pios.zip; do
	t=$SECONDS
	if "$CONVERT" "$FIX/$f" --no-sdcard --name pios --version 2025.1 --out-dir "$T/out-$f" >"$T/convert-$f.log" 2>&1 &&
		[ -s "$T/out-$f/pios.lifeboat" ]; then
		d=$(digest "$T/out-$f/pios.lifeboat")
		if [ -z "$first" ]; then
			first=$d
			pass "$N/format/$f # $((SECONDS - t)) s, $(($(size_of "$T/out-$f/pios.lifeboat") >> 20)) MiB bundle"
		elif [ "$d" = "$first" ]; then
			pass "$N/format/$f # $((SECONDS - t)) s, the same bundle as from pios.img"
		else
			fail $N/format/$f "the bundle differs from the one made from pios.img"
		fi
	else
		fail $N/format/$f "$(tail -n 3 "$T/convert-$f.log" | tr '\n' ' ')"
	fi
done
B=$T/out-pios.img/pios.lifeboat
[ -s "$B" ] || { fail $N "no bundle to check further"; exit 0; }
log=$T/convert-pios.img.log
check $N/reports-removed grep -q 'removed init=/usr/lib/raspberrypi-sys-mods/firstboot' "$log"
check $N/reports-resize2fs_once grep -q 'removed /etc/init.d/resize2fs_once' "$log"

# ---- the bundle ----

check $N/verify "$LBB" verify --key "$DEVKEY" "$B"
"$LBB" info "$B" >"$T/info" 2>&1
check $N/info sh -c "grep -qx 'compatible: *lifeboat-rpi' '$T/info' && grep -qx 'version: *2025.1' '$T/info' &&
	grep -q '^image boot: vfat' '$T/info' && grep -q '^image rootfs: ext4' '$T/info'"
# the images, through the device's own installer onto files (the device's compatible and the
# development key)
img_bytes() { sed -n "s/^image $1: [^,]*, \([0-9]*\) bytes.*/\1/p" "$T/info"; }
truncate -s "$(img_bytes boot)" "$T/boot.vfat"
truncate -s "$(img_bytes rootfs)" "$T/rootfs.ext4"
mkdir -p "$T/keyring" && cp "$DEVKEY" "$T/keyring/"
check $N/install "$LB" install --config /dev/null --keyring "$T/keyring" --compatible lifeboat-rpi \
	--target boot="$T/boot.vfat" --target rootfs="$T/rootfs.ext4" "$B"

# ---- boot: cmdline.txt, and every other file as it was ----

export MTOOLS_SKIP_CHECK=1
cmdline=$(mtype -i "$T/boot.vfat" ::cmdline.txt 2>&1)
want="console=serial0,115200 console=tty1 root=PARTUUID=4c424f54-05 rootfstype=ext4 fsck.repair=yes rootwait quiet lifeboat.slot=main"
if [ "$cmdline" = "$want" ]; then pass $N/cmdline; else fail $N/cmdline "'$cmdline', expected '$want'"; fi
part_extract "$FIX/pios.img" 1 "$T/boot.orig"
mkdir -p "$T/boot-old" "$T/boot-new"
mcopy -s -m -n -i "$T/boot.orig" ::* "$T/boot-old/" && mcopy -s -m -n -i "$T/boot.vfat" ::* "$T/boot-new/"
check $N/boot-files diff -r -x cmdline.txt "$T/boot-old" "$T/boot-new"

# ---- rootfs: read-only loop mounts of the input's partition 2 and the converted image ----

check $N/rootfs-fsck e2fsck -fn "$T/rootfs.ext4"
read -r p2_start p2_bytes < <(part_geometry "$FIX/pios.img" 2)
old_dev=$(loop_attach "$FIX/pios.img" -r --offset "$p2_start" --sizelimit "$p2_bytes") &&
	new_dev=$(loop_attach "$T/rootfs.ext4" -r) &&
	mount_at "$old_dev" "$T/old" -o ro,noload && mount_at "$new_dev" "$T/new" -o ro,noload ||
	{ fail $N/mount "cannot loop-mount the root file systems"; exit 0; }
O=$T/old R=$T/new

fstab=$(grep -v '^[[:space:]]*#' "$R/etc/fstab" | awk 'NF { print $1, $2, $3 }')
want_fstab="proc /proc proc
PARTUUID=4c424f54-03 /boot/firmware vfat
PARTUUID=4c424f54-05 / ext4
PARTUUID=4c424f54-01 /boot/lifeboat vfat
LABEL=data /data ext4"
if [ "$fstab" = "$want_fstab" ]; then pass $N/fstab; else fail $N/fstab "$(echo "$fstab" | tr '\n' ';')"; fi
check $N/fstab-nofail sh -c "grep -E '^(PARTUUID=4c424f54-01|LABEL=data)[[:space:]]' '$R/etc/fstab' | grep -c nofail | grep -qx 2"
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$R/etc/lifeboat/lifeboat.conf"; }
check $N/lifeboat.conf test "$(conf boot-backend) $(conf boot-env) $(conf reboot-command)" = \
	"rpi /boot/lifeboat/lifeboat.env /usr/sbin/lifeboat-reboot"
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
check $N/lifeboat-arm64 sh -c "test -x '$R/usr/bin/lifeboat' && test \"\$(od -An -c -N4 '$R/usr/bin/lifeboat' | tr -d ' ')\" = '177ELF' &&
	test $(elf_machine "$R/usr/bin/lifeboat" 2>/dev/null || echo 0) -eq 183"
check $N/mark-good-enabled test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/lifeboat-mark-good.service")" = \
	/etc/systemd/system/lifeboat-mark-good.service
check $N/mark-good-unit cmp "$R/etc/systemd/system/lifeboat-mark-good.service" "$ROOT/scripts/companion/lifeboat-mark-good.service"
check $N/mark-good-waits grep -qx 'RequiresMountsFor=/boot/lifeboat' "$R/etc/systemd/system/lifeboat-mark-good.service.d/boot-state.conf"
check $N/companion-files sh -c "cmp '$R/etc/udev/rules.d/61-lifeboat-recovery-ro.rules' '$ROOT/scripts/companion/61-lifeboat-recovery-ro.rules' &&
	cmp '$R/etc/systemd/system.conf.d/50-lifeboat-watchdog.conf' '$ROOT/overlay/etc/systemd/system.conf.d/50-lifeboat-watchdog.conf' &&
	test -x '$R/usr/sbin/lifeboat-reboot' && test -d '$R/boot/lifeboat' && test -d '$R/data'"
check $N/no-resize2fs_once sh -c "test ! -e '$R/etc/init.d/resize2fs_once' && test ! -L '$R/etc/rc3.d/S01resize2fs_once' &&
	test -e '$O/etc/init.d/resize2fs_once'"
check $N/capability sh -c "getcap '$R/usr/local/bin/raw-tool' | grep -q 'cap_net_raw=ep'"
check $N/hard-link sh -c "test \"\$(stat -c '%i %h' '$R/usr/local/bin/raw-tool')\" = \"\$(stat -c '%i %h' '$R/usr/local/bin/raw-tool-link')\" &&
	test \"\$(stat -c %h '$R/usr/local/bin/raw-tool')\" -eq 2"
check $N/special-files sh -c "test -p '$R/usr/local/fifo' && test \"\$(stat -c '%F %t,%T' '$R/usr/local/null-device')\" = 'character special file 1,3' &&
	test \"\$(stat -c '%a %u %g' '$R/usr/local/bin/suid-tool')\" = '4750 1000 100'"

# manifest DIR: one line per path: type, path, mode, owners, and for all but directories (whose
# size and link count change as entries are added) size, links, modification time, a link's
# target, a device's numbers; then one line per file with its SHA-256, and one per file
# capability (getcap). Each kind of line has the path second.
manifest() {
	(
		cd "$1" || exit 1
		find . -xdev \( -type d -printf '%y %p %m %U %G\n' \) -o \( -type l -printf '%y %p %m %U %G %T@ -> %l\n' \) \
			-o \( -type f -printf '%y %p %m %U %G %s %n %T@\n' \) -o -printf '%y %p %m %U %G %n %T@\n'
		find . -xdev \( -type c -o -type b \) -exec stat -c 'dev %n %t,%T' {} +
		find . -xdev -type f -exec sha256sum {} + | awk '{ print "sha256", $2, $1 }'
		getcap -r . 2>/dev/null | awk '{ print "cap", $1, $2 }'
	) | sort -k2,2 -k1,1
}
manifest "$O" >"$T/manifest.old"
manifest "$R" >"$T/manifest.new"
# What may differ: the paths the conversion writes, removes or adds, nothing else.
changed='^\./(etc/fstab|etc/init\.d/resize2fs_once|etc/rc3\.d/S01resize2fs_once|etc/lifeboat(/.*)?|usr/bin/lifeboat|usr/sbin/lifeboat-reboot|etc/systemd/system/lifeboat-mark-good\.service(\.d(/.*)?)?|etc/systemd/system/multi-user\.target\.wants(/lifeboat-mark-good\.service)?|etc/systemd/system\.conf\.d(/50-lifeboat-watchdog\.conf)?|etc/udev(/rules\.d(/61-lifeboat-recovery-ro\.rules)?)?|boot/lifeboat|data)$'
diff "$T/manifest.old" "$T/manifest.new" | sed -n 's/^[<>] [a-z0-9]* \([^ ]*\) .*/\1/p' | sort -u >"$T/differ"
unexpected=$(grep -vE "$changed" "$T/differ" | head -n 5 | tr '\n' ' ')
n_old=$(grep -c '^[a-z] ' "$T/manifest.old")
if [ ! -s "$T/manifest.old" ] || [ "$n_old" -lt 1000 ]; then
	fail $N/unchanged "the input's manifest has only $n_old paths"
elif ! grep -qx './etc/fstab' "$T/differ"; then
	# the comparison sees a file the conversion did rewrite, or it sees nothing
	fail $N/unchanged "the manifests do not show /etc/fstab as changed"
elif [ -n "$unexpected" ]; then
	fail $N/unchanged "differ from the input: $unexpected"
else
	pass "$N/unchanged # $n_old paths compared, $(wc -l <"$T/differ") written by the conversion"
fi

# ---- the card ----

"$CONVERT" "$FIX/pios.img" --name pios --version 2025.1 --out-dir "$T/card" >"$T/card.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "only GRUB and U-Boot boards\|recovery.squashfs is missing" "$T/card.log"; then
	skip $N/sdcard "scripts/make-sdcard cannot make rpi cards here: $(grep -o 'error: .*' "$T/card.log" | head -n 1)"
	check $N/sdcard-nothing-left test -z "$(ls -A "$T/card")"
elif [ $rc -ne 0 ]; then
	fail $N/sdcard "$(tail -n 3 "$T/card.log" | tr '\n' ' ')"
else
	C=$T/card/pios-sdcard.img
	part_is() { # N IMAGE: partition N of the card begins with IMAGE's bytes
		local start size
		read -r start size < <(part_geometry "$C" "$1") && [ "$size" -ge "$(size_of "$2")" ] &&
			cmp -s -n "$(size_of "$2")" "$2" <(tail -c +$((start + 1)) "$C")
	}
	check $N/sdcard-p3-boot part_is 3 "$T/boot.vfat"
	check $N/sdcard-p5-rootfs part_is 5 "$T/rootfs.ext4"
	# the disk identifier that main's cmdline.txt and fstab name (PARTUUID=4c424f54-NN)
	check $N/sdcard-disk-id sh -c "sfdisk --dump '$C' | grep -qx 'label-id: 0x4c424f54'"
	check $N/sdcard-p6-data sh -c "blkid -p -o value -s LABEL -O $(part_geometry "$C" 6 | cut -d' ' -f1) '$C' | grep -qx data"
	# the Pi 3's U-Boot starts main's kernel and initramfs as main's config.txt names them
	# (Pi OS's: kernel8.img by default, initramfs8 with auto_initramfs=1)
	pi3_names() {
		part_extract "$C" 1 "$T/card-p1.img" && MTOOLS_SKIP_CHECK=1 mtype -i "$T/card-p1.img" ::lifeboat-board.txt >"$T/card-board.txt" &&
			grep -qx lb_kernel_main=kernel8.img "$T/card-board.txt" && grep -qx lb_initrd_main=initramfs8 "$T/card-board.txt" ||
			{ echo "lifeboat-board.txt: $(grep _main "$T/card-board.txt" | tr '\n' ' ')"; return 1; }
		! grep -q "warning: main's boot image has no" "$T/card.log" || { grep warning "$T/card.log"; return 1; }
	}
	check $N/sdcard-pi3-main-files pi3_names
	cp "$C" "$T/converted-card.img"
fi

# ---- refusals: a message naming the problem, an exit status, nothing left behind ----

# refused NAME INPUT PATTERN: convert-image fails on INPUT, says PATTERN, writes nothing.
refused() {
	local name=$1 input=$2 pattern=$3 out=$T/refused-$1 rc
	mkdir -p "$out"
	"$CONVERT" "$input" --no-sdcard --out-dir "$out" >"$T/refused.log" 2>&1
	rc=$?
	local left
	left=$(ls -A "$out"; ls -d "$ROOT"/build/convert-work.* 2>/dev/null)
	if [ $rc -eq 0 ]; then
		fail "$N/refuses/$name" "converted"
	elif ! grep -q "error: .*$pattern" "$T/refused.log"; then
		fail "$N/refuses/$name" "exit $rc, message '$(tail -n 1 "$T/refused.log")' does not say '$pattern'"
	elif [ -n "$left" ]; then
		fail "$N/refuses/$name" "left behind: $left"
	else
		pass "$N/refuses/$name # $(grep -o 'error: .*' "$T/refused.log" | head -n 1 | cut -c8-90)..."
	fi
}
echo "not an image" >"$T/notes.img"
refused not-an-image "$T/notes.img" "not a disk image"
truncate -s 8M "$T/gpt.img"
printf 'label: gpt\n,,L\n' | sfdisk --quiet "$T/gpt.img" >/dev/null
refused gpt "$T/gpt.img" "GPT"
head -c $(($(size_of "$FIX/pios.img") - (40 << 20))) "$FIX/pios.img" >"$T/truncated.img"
refused truncated "$T/truncated.img" "truncated"
cp "$FIX/pios.img.xz" "$T/corrupt.img.xz"
dd if=/dev/urandom of="$T/corrupt.img.xz" bs=4096 count=4 seek=200 conv=notrunc status=none
refused corrupt-xz "$T/corrupt.img.xz" "does not decompress (xz)"
cp --sparse=always "$FIX/pios.img" "$T/no-ext4.img"
patch_bytes "$T/no-ext4.img" $((p2_start + 1080)) 00 00
refused no-ext4-root "$T/no-ext4.img" "holds no ext4"
cp --sparse=always "$FIX/pios.img" "$T/no-fat.img"
dd if=/dev/zero of="$T/no-fat.img" bs=512 count=1 seek=8192 conv=notrunc status=none
refused no-fat "$T/no-fat.img" "not a FAT file system"
(cd "$FIX" && zip -q "$T/two.zip" pios.img && cp pios.img "$T/other.img" && cd "$T" && zip -q -0 two.zip other.img)
refused zip-two-images "$T/two.zip" "exactly one"
# a card this script made (the real one above, or its layout: six partitions, a squashfs on 2)
if [ ! -s "$T/converted-card.img" ]; then
	truncate -s 64M "$T/converted-card.img"
	printf 'label: dos\nstart=2048,size=16384,type=c\nstart=18432,size=16384\nstart=34816,size=16384,type=c\nstart=51200,type=5\nstart=53248,size=16384\nstart=71680\n' |
		sfdisk --quiet "$T/converted-card.img" >/dev/null
	printf 'hsqs' | dd of="$T/converted-card.img" bs=512 seek=18432 conv=notrunc status=none
fi
refused already-converted "$T/converted-card.img" "already a Lifeboat card"
