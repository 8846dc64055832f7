# What is in the recovery image (build/BOARD/recovery.squashfs, from `make recovery`; the board
# is RECOVERY_BOARD, default qemu-x86_64), read from the squashfs itself: the Lifeboat programs
# (built for the board's architecture) and configuration (as the board file says), the units, the
# users, and what must not be there (compiler, apt, documentation, machine identity, keys of the
# build host). For the U-Boot and Raspberry Pi boards, also the boot partition's files in
# build/BOARD/boot/.
source "$(dirname "$0")/../lib.sh"

BOARD=${RECOVERY_BOARD:-qemu-x86_64}
OUT=${RECOVERY_OUT:-$ROOT/build/$BOARD}
# the default board's test names stay as they were
N=/image/recovery-contents
[ "$BOARD" = qemu-x86_64 ] || N=/image/$BOARD/recovery-contents
[ -s "$OUT/recovery.squashfs" ] || { fail $N "$OUT/recovery.squashfs is missing: run make recovery BOARD=$BOARD"; exit 0; }
command -v unsquashfs >/dev/null || { fail $N "unsquashfs is missing: run scripts/install-deps"; exit 0; }
info() { sed -n "s/^$1=//p" "$OUT/recovery.info"; }
# board_var NAME: NAME as the board file sets it (it is bash, sourced in a subshell).
board_var() { (source "$ROOT/rootfs/boards/$(info board).conf" && printf '%s' "${!1:-}"); }

# The listing (paths and owners) and the few files the checks read, extracted from the image.
unsquashfs -lln -d "" "$OUT/recovery.squashfs" >"$T/ls" 2>"$T/unsquashfs.err" ||
	{ fail $N "unsquashfs: $(tail -n 2 "$T/unsquashfs.err")"; exit 0; }
files=(/etc/lifeboat/lifeboat.conf /etc/passwd /etc/group /etc/shadow /etc/machine-id /etc/fstab
	/etc/hostname /etc/lighttpd/lifeboat-site.conf /usr/bin/lifeboat)
unsquashfs -no-xattrs -d "$T/x" "$OUT/recovery.squashfs" "${files[@]}" >/dev/null 2>&1
paths() { awk '{ p = $6; for (i = 7; i <= NF; i++) p = p " " $i; sub(/ -> .*/, "", p); print p }' "$@"; }
paths "$T/ls" >"$T/paths"
has() { grep -qx -- "$1" "$T/paths"; }
none() { ! grep -qE -- "$1" "$T/paths"; }
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$T/x/etc/lifeboat/lifeboat.conf"; }

size=$(size_of "$OUT/recovery.squashfs")
mib=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')
if [ "$size" -le $((64 << 20)) ]; then pass "$N/size # $mib MiB"; else fail $N/size "$mib MiB, over 64 MiB"; fi

programs() {
	local p
	for p in /usr/bin/lifeboat /usr/bin/lifeboat-kiosk /usr/lib/lifeboat/cgi-bin/{install,status,info,reboot,log,session,install-from-url} \
		/usr/lib/lifeboat/{grant-targets,protect-recovery} /usr/sbin/lighttpd /srv/lifeboat/www/index.html /boot/vmlinuz \
		/boot/initrd.img /etc/ssl/certs/ca-certificates.crt; do
		has "$p" || { echo "missing $p"; return 1; }
	done
}
check $N/programs programs
check $N/not-present sh -c "! grep -E '^/(boot/grub|boot/u-boot|boot/rpi|usr/bin/(cc|gcc|c\+\+|make|apt|apt-get)|etc/apt|var/lib/apt)(/|\$)' '$T/paths'"
# documentation: the copyright files only (directories and the links between packages' doc
# directories aside)
awk '$1 !~ /^[dl]/' "$T/ls" | paths >"$T/non-dirs"
check $N/no-docs sh -c "! grep -E '^/usr/share/(man|info|locale)/.' '$T/non-dirs' && ! grep -E '^/usr/share/doc/' '$T/non-dirs' | grep -v '^/usr/share/doc/[^/]*/copyright\$'"
check $N/no-identity sh -c "test ! -s '$T/x/etc/machine-id' && ! grep -E '^/(etc/ssh/ssh_host_|var/lib/dbus/machine-id|var/lib/systemd/random-seed|var/cache/ldconfig/aux-cache)' '$T/paths'"
check $N/no-logs sh -c "! awk '\$1 ~ /^-/ && \$6 ~ /^\\/var\\/log\\// { print; f = 1 } END { exit !f }' '$T/ls'"
check $N/config test "$(conf compatible) $(conf target.rootfs) $(conf boot-backend) $(conf boot-env)" = \
	"$(info compatible) $(board_var TARGET_ROOTFS) $(board_var BOOT_BACKEND) /run/lifeboat/boot/$(board_var BOOT_ENV)"
# the programs are the board's: ELF machine 62 (x86-64) or 183 (AArch64)
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
case $(info arch) in amd64) machine=62 ;; arm64) machine=183 ;; *) machine="arch $(info arch)?" ;; esac
check $N/programs-arch test "$(elf_machine "$T/x/usr/bin/lifeboat")" = "$machine"
check $N/keyring sh -c "grep -E '^/etc/lifeboat/keyring/[^/]+\.pem\$' '$T/paths' | grep -q ."
check $N/web-user sh -c "grep -q '^lifeboat-main:.*:lifeboat-web\$' '$T/x/etc/group' && grep -q '^lifeboat-web:[^:]*:[0-9]*:[0-9]*:.*:/usr/sbin/nologin\$' '$T/x/etc/passwd' &&
	test \"\$(grep -c ':lifeboat-web' '$T/x/etc/group')\" -eq 1 && grep -q 'server.username = \"lifeboat-web\"' '$T/x/etc/lighttpd/lifeboat-site.conf'"
check $N/root-locked grep -q '^root:!' "$T/x/etc/shadow"
wants=/etc/systemd/system/multi-user.target.wants
units_enabled() {
	local u
	for u in lifeboat-web.service lifeboat-grant-targets.service lifeboat-log.service lifeboat-reboot.path \
		lifeboat-kiosk.service systemd-networkd.service avahi-daemon.service lifeboat-self-check.service \
		lifeboat-boot-reason.service lifeboat-pull.service; do
		has "$wants/$u" || { echo "$u is not enabled"; return 1; }
	done
}
check $N/units-enabled units_enabled
# the programs read squashfs images (the self-check, the installer's file system check)
check $N/libsquashfs sh -c "grep -qE '^/usr/lib/[^/]+/libsquashfs\.so\.1' '$T/paths'"
# the recovery's own partition is made read-only early in every boot
check $N/write-protect-enabled has /etc/systemd/system/sysinit.target.wants/lifeboat-protect-recovery.service
check $N/stock-lighttpd-disabled sh -c "! grep -qx '$wants/lighttpd.service' '$T/paths'"
check $N/mounts sh -c "grep -q '^$(board_var BOOT_DEV)[[:space:]]*/run/lifeboat/boot[[:space:]]' '$T/x/etc/fstab' && grep -q '^$(board_var DATA_DEV)[[:space:]]*/data[[:space:]]' '$T/x/etc/fstab' && grep -q '^tmpfs[[:space:]]*/tmp[[:space:]]' '$T/x/etc/fstab'"
check $N/hostname test "$(cat "$T/x/etc/hostname")" = lifeboat
# setgid helpers keep their group: the image is not packed with -all-root
shadow_gid=$(sed -n 's/^shadow:[^:]*:\([0-9]*\):.*/\1/p' "$T/x/etc/group")
check $N/owners-kept grep -qE "^-rwxr-sr-x 0/$shadow_gid .* /usr/bin/chage\$" "$T/ls"

# ---- the boot partition's files (U-Boot and Raspberry Pi boards) ----

boot_files() { # NAME...: present in build/BOARD/boot/
	local f
	for f; do [ -s "$OUT/boot/$f" ] || { echo "missing boot/$f"; return 1; }; done
}
# an intact, empty state pair: the CRC-32 of 4092 zero bytes (0x603b0489, little-endian), then
# those bytes
empty_state() {
	local f
	for f in lifeboat.env lifeboat.env.redund; do
		[ "$(size_of "$OUT/boot/$f")" = 4096 ] && [ "$(od -An -tx1 -N4 "$OUT/boot/$f" | tr -d ' ')" = 89043b60 ] &&
			[ -z "$(tail -c +5 "$OUT/boot/$f" | tr -d '\0' | head -c 1)" ] || { echo "boot/$f is not an empty state"; return 1; }
	done
}
case $(board_var BOOT_BACKEND) in
uboot)
	check $N/boot-files boot_files boot.scr lifeboat-board.txt boot/vmlinuz boot/initrd.img
	check $N/boot-state-empty empty_state
	check $N/boot-kernel-is-the-image sh -c "cmp -s '$OUT/boot/boot/vmlinuz' '$OUT/vmlinuz' && cmp -s '$OUT/boot/boot/initrd.img' '$OUT/initrd.img'"
	check $N/boot-board-file grep -qx "lb_cmdline_recovery=$(info cmdline) lifeboat.sha256=$(cut -c1-64 "$OUT/recovery.squashfs.sha256")" \
		"$OUT/boot/lifeboat-board.txt" ;;
rpi)
	check $N/boot-files boot_files bootcode.bin start.elf fixup.dat start4.elf fixup4.dat config.txt cmdline.txt \
		autoboot.txt vmlinuz initrd.img bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb bcm2711-rpi-cm4-io.dtb \
		bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb
	check $N/boot-state-empty empty_state
	check $N/boot-cmdline test "$(cat "$OUT/boot/cmdline.txt")" = \
		"$(info cmdline) lifeboat.sha256=$(cut -c1-64 "$OUT/recovery.squashfs.sha256")"
	# the firmware reads no more of autoboot.txt
	check $N/autoboot-size test "$(size_of "$OUT/boot/autoboot.txt")" -le 512
	# the firmware is the boot partition's only: out of the image, as are the device trees
	check $N/no-firmware-in-image sh -c "! grep -E '^/usr/lib/(raspi-firmware|linux-image-)' '$T/paths'"
	# the recovery hands over to main through the firmware's trial boot
	check $N/handover-enabled sh -c "grep -qx /etc/systemd/system/sysinit.target.wants/lifeboat-handover.service '$T/paths' && grep -qx /etc/lifeboat/rpi '$T/paths'" ;;
esac
