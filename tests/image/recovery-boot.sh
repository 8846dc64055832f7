# Boots the recovery image of a QEMU board (build/BOARD/, from `make recovery BOARD=...`) in
# QEMU (TCG) from a disk laid out like the card: 1 boot, 2 recovery (the squashfs), 3 main
# (empty), 4 data (ext4). The board is RECOVERY_BOARD: qemu-x86_64 (the default: boot partition
# ext4 with a GRUB environment, QEMU's pc machine) or qemu-arm64 (boot partition FAT with
# build/qemu-arm64/boot/, the U-Boot files and state pair that rootfs/build made; QEMU's virt
# machine, Cortex-A57). Direct kernel boot with the board's command line;
# QEMU's user network forwards a host port to the guest's port 80. Then, over HTTP only: the web
# appliance answers (the time from QEMU's start to the first answer is the boot-to-ready time),
# reports the board, installs a signed bundle onto main, and reboots into main on request
# (QEMU runs with -no-reboot: the guest's reset ends it; the ACPI power button is the fallback).
# Then the disk is read back on the host: main holds the image, the boot state (GRUB environment,
# or both copies of U-Boot's) says main with fresh attempts and no one-shot, the log is on the data partition, the recovery partition
# is unchanged (and the console says the recovery made it read-only).
source "$(dirname "$0")/../lib.sh"

BOARD=${RECOVERY_BOARD:-qemu-x86_64}
OUT=${RECOVERY_OUT:-$ROOT/build/$BOARD}
# the default board's test names stay as they were
N=/image/recovery
[ "$BOARD" = qemu-x86_64 ] || N=/image/$BOARD/recovery
MEMORY=${RECOVERY_BOOT_MEMORY:-512}
READY_LIMIT=${RECOVERY_READY_LIMIT:-240}

# The machine and the boot partition's kind, per board.
case $BOARD in
qemu-x86_64)
	QEMU=(qemu-system-x86_64 -machine pc)
	BOOT_STATE=grub
	tools=(grub-editenv) ;;
qemu-arm64)
	QEMU=(qemu-system-aarch64 -machine virt -cpu cortex-a57)
	BOOT_STATE=uboot
	tools=(mkfs.vfat mcopy fw_printenv) ;;
*)
	skip $N-boots "board $BOARD does not boot in QEMU (qemu-x86_64, qemu-arm64)"
	exit 0 ;;
esac
for c in "${QEMU[0]}" sfdisk mkfs.ext4 debugfs "${tools[@]}" curl jq; do
	command -v "$c" >/dev/null || { fail $N-boots "$c is missing: run scripts/install-deps"; exit 0; }
done
for f in recovery.squashfs vmlinuz initrd.img recovery.info $([ $BOOT_STATE = uboot ] && echo boot/lifeboat.env); do
	[ -s "$OUT/$f" ] || { fail $N-boots "$OUT/$f is missing: run make recovery BOARD=$BOARD"; exit 0; }
done
info() { sed -n "s/^$1=//p" "$OUT/recovery.info"; }
COMPATIBLE=$(info compatible)
# RECOVERY_CMDLINE: another command line than the image's, e.g. with root=PARTUUID=4c424f54-02
# (the disk below has the cards' identifier) to boot the initramfs's PARTUUID lookup
CMDLINE=${RECOVERY_CMDLINE:-$(info cmdline)}
SIGNING_KEY=$(dirname "$(info key)")/dev.key.pem
[ "$(info key)" = "$ROOT/build/keys/dev.pub.pem" ] && [ -s "$SIGNING_KEY" ] || {
	skip $N-boots "the image trusts $(info key), not the development key build/keys/dev.pub.pem"
	exit 0
}

# ---- the disk ----

mib_of() { echo $((($(size_of "$1") + (1 << 20) - 1) >> 20)); }
mkdir -p "$T/empty"
mkfs_ext4() { truncate -s "$2M" "$1" && mkfs.ext4 -q -F -L "$3" -d "$4" "$1"; }
# boot_partition OUT: partition 1 with an empty boot state. GRUB: an ext4 holding an empty
# environment. U-Boot: a FAT holding build/BOARD/boot/ as rootfs/build made it (boot script,
# board file, the recovery's kernel and initramfs, an empty state pair).
boot_partition() {
	case $BOOT_STATE in
	grub)
		mkdir -p "$T/boot/boot/grub" && grub-editenv "$T/boot/boot/grub/grubenv" create &&
			mkfs_ext4 "$1" 16 boot "$T/boot" ;;
	uboot)
		rm -f "$1" && mkfs.vfat -C -n BOOT "$1" $((64 * 1024)) >/dev/null &&
			MTOOLS_SKIP_CHECK=1 mcopy -s -i "$1" "$OUT"/boot/* :: ;;
	esac
}
boot_partition "$T/p1" && mkfs_ext4 "$T/p4" 16 data "$T/empty" &&
	truncate -s 64M "$T/p3" || { fail $N-boots "cannot make the partition images"; exit 0; }
parts=("$T/p1" "$OUT/recovery.squashfs" "$T/p3" "$T/p4")
table=$'label: dos\nlabel-id: 0x4c424f54\nunit: sectors\n'
start=2048
starts=()
for p in "${parts[@]}"; do
	sectors=$(($(mib_of "$p") * 2048))
	table+="start=$start, size=$sectors, type=83"$'\n'
	starts+=("$start")
	start=$((start + sectors))
done
DISK=$T/disk.img
truncate -s $((start * 512)) "$DISK"
printf '%s' "$table" | sfdisk --quiet --no-reread --no-tell-kernel "$DISK" >/dev/null || { fail $N-boots "sfdisk failed"; exit 0; }
for i in "${!parts[@]}"; do
	dd if="${parts[$i]}" of="$DISK" bs=1M seek=$((starts[i] * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
done
# part N OUT: partition N's bytes (1-based) into OUT
part() {
	local i=$(($1 - 1))
	dd if="$DISK" of="$2" bs=1M skip=$((starts[i] * 512)) count="$(size_of "${parts[$i]}")" \
		iflag=skip_bytes,count_bytes status=none
}

# ---- the bundle: a small ext4 image for main, signed with the development key ----

mkdir -p "$T/main/etc"
echo "main version 2, installed by $N" >"$T/main/etc/lifeboat-test"
mkfs_ext4 "$T/main.ext4" 8 main "$T/main" &&
	"$LBB" create --key "$SIGNING_KEY" --compatible "$COMPATIBLE" --version 2 --image rootfs="$T/main.ext4" \
		-o "$T/main.lifeboat" >/dev/null 2>"$T/bundle.err" || { fail $N-boots "bundle: $(cat "$T/bundle.err")"; exit 0; }

# ---- boot ----

port=$(free_port)
URL=http://127.0.0.1:$port
mkfifo "$T/monitor.in" "$T/monitor.out"
CONSOLE=$T/console.log
# The console of the last run stays in build/ for a look afterwards.
trap 'tr -d "\r" <"$CONSOLE" >"$OUT/recovery-boot.console.log" 2>/dev/null; cleanup' EXIT
# What the card's boot loader adds: the recorded hash of the recovery image, which it checks at
# boot, and why it was booted (a failure here, which the recovery keeps on the data partition).
RECOVERY_ARGS="lifeboat.sha256=$(cut -c1-64 "$OUT/recovery.squashfs.sha256") lifeboat.reason=attempts-exhausted"
t0=${EPOCHREALTIME/./}
"${QEMU[@]}" -accel tcg -m "$MEMORY" -smp 2 -nodefaults -no-user-config -display none \
	-no-reboot -serial "file:$CONSOLE" -chardev pipe,id=mon,path="$T/monitor" -mon chardev=mon,mode=readline \
	-kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" -append "$CMDLINE $RECOVERY_ARGS" \
	-drive file="$DISK",format=raw,if=virtio \
	-netdev user,id=n,hostfwd=tcp:127.0.0.1:$port-:80 -device virtio-net-pci,netdev=n \
	>"$T/qemu.out" 2>&1 &
QEMU=$!
exec 7<>"$T/monitor.in" 8<>"$T/monitor.out" # read-write: opening never blocks
console_tail() { tr -d '\r' <"$CONSOLE" 2>/dev/null | grep -av '^\s*$' | tail -n "${1:-5}" | cut -c1-160 | tr '\n' '|'; }

ready=""
while [ $((${EPOCHREALTIME/./} - t0)) -lt $((READY_LIMIT * 1000000)) ]; do
	kill -0 $QEMU 2>/dev/null || break
	if curl -sf --max-time 3 -o "$T/status.json" "$URL/api/status" 2>/dev/null; then
		ready=$(awk -v d=$((${EPOCHREALTIME/./} - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')
		break
	fi
	sleep 0.5
done
if [ -z "$ready" ]; then
	if kill -0 $QEMU 2>/dev/null; then
		fail $N-boots "no answer from /api/status within $READY_LIMIT s; console ($(size_of "$CONSOLE") bytes): $(console_tail 6) QEMU: $(tail -n 2 "$T/qemu.out" | tr '\n' ' ')"
	else
		fail $N-boots "QEMU ended: $(tail -n 2 "$T/qemu.out" | tr '\n' ' ') console: $(console_tail 6)"
	fi
	exit 0
fi
if [ "$(jq -r .state "$T/status.json")" = idle ]; then
	pass "$N-boots # ready in $ready s"
else
	fail $N-boots "ready in $ready s, but /api/status says: $(head -c 300 "$T/status.json")"
fi
# the self-check and the boot's reason ran before the web appliance started
IFS=$'\t' read -r image_check seconds reason failure < <(jq -r '.recovery | [.image.check, .image.seconds, .boot_reason,
	.last_failure.reason + " " + (.last_failure.this_boot | tostring)] | map(tostring) | @tsv' "$T/status.json" 2>/dev/null)
if [ "$image_check" = ok ] && [ "$reason" = attempts-exhausted ] && [ "$failure" = "attempts-exhausted true" ]; then
	pass "$N-self-check # image ok in $seconds s"
else
	fail $N-self-check "/api/status says: $(jq -c .recovery "$T/status.json" 2>&1 | head -c 400)"
fi

curl -sS --max-time 10 "$URL/api/info" >"$T/info.json" 2>&1
got=$(jq -r '[.compatible, (.targets[0].path // "none"), (.keys | length | tostring)] | join(" ")' "$T/info.json" 2>/dev/null)
if [ "$got" = "$COMPATIBLE /dev/vda3 1" ]; then pass $N-info; else
	fail $N-info "expected '$COMPATIBLE /dev/vda3 1' (compatible, target, keys), got '$got': $(head -c 300 "$T/info.json")"; fi

code=$(curl -sS --max-time 300 -o "$T/install.json" -w '%{http_code}' --upload-file "$T/main.lifeboat" -X POST \
	-H 'Content-Type: application/octet-stream' "$URL/api/install" 2>"$T/curl.err")
if [ "$code" = 200 ] && [ "$(jq -r .result "$T/install.json" 2>/dev/null)" = installed ]; then pass $N-install; else
	fail $N-install "HTTP $code: $(head -c 300 "$T/install.json") $(cat "$T/curl.err")"; fi

curl -sS --max-time 10 "$URL/api/status" >"$T/status.json" 2>&1
got=$(jq -r '[.main.state, .main.version, .boot.order[0].slot, (.boot.order[0].attempts_left | tostring)] | join(" ")' \
	"$T/status.json" 2>/dev/null)
check $N-status-after-install test "$got" = "valid 2 main 3"
curl -sS --max-time 10 "$URL/api/log" >"$T/log.txt" 2>&1
check $N-log grep -q 'installed version 2' "$T/log.txt"

# ---- reboot into main through the API; QEMU (-no-reboot) ends when the guest resets ----

code=$(curl -sS --max-time 10 -o "$T/reboot.json" -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"target":"main"}' "$URL/api/reboot" 2>&1)
t1=$SECONDS
while kill -0 $QEMU 2>/dev/null && [ $((SECONDS - t1)) -lt 60 ]; do sleep 0.5; done
if [ "$code" = 202 ] && ! kill -0 $QEMU 2>/dev/null; then
	pass "$N-reboot # QEMU ended $((SECONDS - t1)) s after the request"
else
	fail $N-reboot "HTTP $code $(head -c 200 "$T/reboot.json"); the VM is still running 60 s later; console: $(console_tail 3)"
	# the ACPI power button instead (systemd-logind powers off; QEMU then exits)
	echo system_powerdown >&7
	t1=$SECONDS
	while kill -0 $QEMU 2>/dev/null && [ $((SECONDS - t1)) -lt 60 ]; do sleep 0.5; done
	kill $QEMU 2>/dev/null
fi
wait $QEMU 2>/dev/null
exec 7>&- 8<&-

# Units that failed on the way (systemd prints them on the console).
failed=$(tr -d '\r' <"$CONSOLE" | sed -e 's/\x1b\[[0-9;]*m//g' -n -e 's/.*\[FAILED\] Failed to start \(.*\)\.$/\1/p' |
	sort -u | paste -sd, -)
check $N-no-failed-units test -z "$failed"
[ -z "$failed" ] || echo "  failed units: $failed"
# The recovery set its own partition read-only early in the boot (lifeboat-protect-recovery
# says which device on the console).
check $N-write-protected sh -c "tr -d '\r' <'$CONSOLE' | grep -q 'protect-recovery: /dev/vda2 (holding /, squashfs) is read-only'"
# root=PARTUUID= (RECOVERY_CMDLINE): the initramfs says which device it found
case " $CMDLINE " in
*" root=PARTUUID="*)
	root=${CMDLINE#*root=}
	root=${root%% *}
	check $N-root-by-partuuid sh -c "tr -d '\r' <'$CONSOLE' | grep -q 'lifeboat initramfs: root=$root is /dev/vda2'" ;;
esac

# ---- the disk afterwards, read on the host ----

part 2 "$T/recovery.after"
check $N-recovery-unchanged cmp "$OUT/recovery.squashfs" "$T/recovery.after"
part 3 "$T/main.after"
check $N-main-written cmp -n "$(size_of "$T/main.ext4")" "$T/main.ext4" "$T/main.after"
part 1 "$T/p1.after"
case $BOOT_STATE in
grub)
	debugfs -R "dump /boot/grub/grubenv $T/grubenv.after" "$T/p1.after" >/dev/null 2>&1
	got=$(grub-editenv "$T/grubenv.after" list 2>&1 | grep -E '^LB_(ORDER|main_LEFT|ONESHOT)=' | sort | paste -sd' ' -) ;;
uboot)
	# the first copy as libubootenv's reader sees it; the second must hold the same bytes
	MTOOLS_SKIP_CHECK=1 mcopy -n -i "$T/p1.after" ::lifeboat.env ::lifeboat.env.redund "$T/" 2>/dev/null
	printf '%s 0x0 0x1000\n' "$T/lifeboat.env" >"$T/fw_env.config"
	got=$(fw_printenv -c "$T/fw_env.config" 2>&1 | grep -E '^LB_(ORDER|main_LEFT|ONESHOT)=' | sort | paste -sd' ' -)
	check $N-boot-state-copies cmp "$T/lifeboat.env" "$T/lifeboat.env.redund" ;;
esac
check $N-boot-state test "$got" = "LB_ONESHOT= LB_ORDER=main recovery LB_main_LEFT=3"
part 4 "$T/p4.after"
check $N-log-on-data sh -c "debugfs -R 'cat /lifeboat/lifeboat.log' '$T/p4.after' 2>/dev/null | grep -q 'installed version 2'"
check $N-last-failure-on-data sh -c "debugfs -R 'cat /lifeboat/last-failure' '$T/p4.after' 2>/dev/null | grep -qx reason=attempts-exhausted"
