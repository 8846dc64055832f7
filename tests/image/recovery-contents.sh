# What is in the recovery image (build/qemu-x86_64/recovery.squashfs, from `make recovery`), read
# from the squashfs itself: the Lifeboat programs and configuration, the units, the users, and
# what must not be there (compiler, apt, documentation, machine identity, keys of the build host).
source "$(dirname "$0")/../lib.sh"

OUT=${RECOVERY_OUT:-$ROOT/build/qemu-x86_64}
N=/image/recovery-contents
[ -s "$OUT/recovery.squashfs" ] || { fail $N "$OUT/recovery.squashfs is missing: run make recovery"; exit 0; }
command -v unsquashfs >/dev/null || { fail $N "unsquashfs is missing: run scripts/install-deps"; exit 0; }
info() { sed -n "s/^$1=//p" "$OUT/recovery.info"; }

# The listing (paths and owners) and the few files the checks read, extracted from the image.
unsquashfs -lln -d "" "$OUT/recovery.squashfs" >"$T/ls" 2>"$T/unsquashfs.err" ||
	{ fail $N "unsquashfs: $(tail -n 2 "$T/unsquashfs.err")"; exit 0; }
files=(/etc/lifeboat/lifeboat.conf /etc/passwd /etc/group /etc/shadow /etc/machine-id /etc/fstab
	/etc/hostname /etc/lighttpd/lifeboat-site.conf)
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
	for p in /usr/bin/lifeboat /usr/bin/lifeboat-kiosk /usr/lib/lifeboat/cgi-bin/{install,status,info,reboot,log} /usr/lib/lifeboat/grant-targets \
		/usr/sbin/lighttpd /srv/lifeboat/www/index.html /boot/vmlinuz /boot/initrd.img; do
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
	"$(info compatible) /dev/vda3 grub /run/lifeboat/boot/boot/grub/grubenv"
check $N/keyring sh -c "grep -E '^/etc/lifeboat/keyring/[^/]+\.pem\$' '$T/paths' | grep -q ."
check $N/web-user sh -c "grep -q '^lifeboat-main:.*:lifeboat-web\$' '$T/x/etc/group' && grep -q '^lifeboat-web:[^:]*:[0-9]*:[0-9]*:.*:/usr/sbin/nologin\$' '$T/x/etc/passwd' &&
	test \"\$(grep -c ':lifeboat-web' '$T/x/etc/group')\" -eq 1 && grep -q 'server.username = \"lifeboat-web\"' '$T/x/etc/lighttpd/lifeboat-site.conf'"
check $N/root-locked grep -q '^root:!' "$T/x/etc/shadow"
wants=/etc/systemd/system/multi-user.target.wants
units_enabled() {
	local u
	for u in lifeboat-web.service lifeboat-grant-targets.service lifeboat-log.service lifeboat-reboot.path \
		lifeboat-kiosk.service systemd-networkd.service avahi-daemon.service; do
		has "$wants/$u" || { echo "$u is not enabled"; return 1; }
	done
}
check $N/units-enabled units_enabled
check $N/stock-lighttpd-disabled sh -c "! grep -qx '$wants/lighttpd.service' '$T/paths'"
check $N/mounts sh -c "grep -q '^/dev/vda1[[:space:]]*/run/lifeboat/boot[[:space:]]' '$T/x/etc/fstab' && grep -q '^/dev/vda4[[:space:]]*/data[[:space:]]' '$T/x/etc/fstab' && grep -q '^tmpfs[[:space:]]*/tmp[[:space:]]' '$T/x/etc/fstab'"
check $N/hostname test "$(cat "$T/x/etc/hostname")" = lifeboat
# setgid helpers keep their group: the image is not packed with -all-root
shadow_gid=$(sed -n 's/^shadow:[^:]*:\([0-9]*\):.*/\1/p' "$T/x/etc/group")
check $N/owners-kept grep -qE "^-rwxr-sr-x 0/$shadow_gid .* /usr/bin/chage\$" "$T/ls"
