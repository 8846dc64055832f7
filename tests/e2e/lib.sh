# Shared setup of the whole-cycle tests (sourced by tests/e2e/cycle.sh and torture.sh; not a
# test itself): a card made by scripts/make-sdcard with the example main at version 1, bundles
# of versions 2 and 3 (3 with a kernel that cannot be loaded), and helpers to talk to the
# device: over HTTP to the recovery, over the serial console to main's root shell. Everything
# runs in QEMU under TCG through scripts/lib/vm.sh.
#
# The board is E2E_BOARD: qemu-x86_64 (the default: GRUB on QEMU's pc machine; `make e2e`) or
# qemu-arm64 (U-Boot on QEMU's aarch64 virt machine; `make e2e-arm64`). Test names carry the
# board unless it is the default (/e2e/qemu-arm64/...), so do the console logs kept in build/e2e/.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$ROOT/scripts/lib/disk.sh"
source "$ROOT/scripts/lib/vm.sh"

BOARD=${E2E_BOARD:-qemu-x86_64}
OUT=$ROOT/build/$BOARD
E2E_SUFFIX="" E2E_TARGET=e2e # what make builds it all with
[ "$BOARD" = qemu-x86_64 ] || E2E_SUFFIX=/$BOARD
[ "$BOARD" != qemu-arm64 ] || E2E_TARGET=e2e-arm64
# QEMU's machine from the board's architecture (scripts/lib/vm.sh)
case $(sed -n 's/^ARCH=//p' "$ROOT/rootfs/boards/$BOARD.conf" 2>/dev/null) in
arm64) VM_ARCH=aarch64 ;;
*) VM_ARCH=x86_64 ;;
esac
KEY=$ROOT/build/keys/dev.key.pem
COMPATIBLE=$(sed -n 's/^compatible=//p' "$OUT/recovery.info" 2>/dev/null)
BOOT_LIMIT=${E2E_BOOT_LIMIT:-240}   # seconds a boot may take under TCG before it counts as failed
VM_DIR=$T
VM_CONSOLE=$T/console.log
# The consoles of the last run stay in build/e2e/ for a look afterwards.
E2E_LOGS=$ROOT/build/e2e
mkdir -p "$E2E_LOGS"

# e2e_need: true when everything the whole cycle needs was built (make e2e builds it).
e2e_need() {
	local f
	for f in recovery.squashfs example-main-v1.ext4 example-main-v2.ext4 example-main-v3-broken.ext4; do
		[ -s "$OUT/$f" ] || { MISSING="$OUT/$f (make $E2E_TARGET builds it)"; return 1; }
	done
	[ -s "$KEY" ] || { MISSING="$KEY (make recovery makes it)"; return 1; }
	command -v "qemu-system-$VM_ARCH" >/dev/null || { MISSING=qemu-system-$VM_ARCH; return 1; }
}

# seconds_since START_US: wall time since START_US, as "12.3".
seconds_since() { awk -v d=$(($(vm_now_us) - $1)) 'BEGIN { printf "%.1f", d / 1e6 }'; }

# e2e_bundle VERSION IMAGE OUT: a bundle of IMAGE signed with the development key.
e2e_bundle() {
	"$LBB" create --key "$KEY" --compatible "$COMPATIBLE" --version "$1" --description "example main $1" \
		--image rootfs="$2" -o "$3" >/dev/null
}

# e2e_card DISK: the card with main version 1 and a data partition holding a user's files.
e2e_card() {
	mkdir -p "$T/data/config" "$T/data/logs"
	cp -r "$ROOT/docs" "$T/data/config/"
	head -c 4M /dev/urandom >"$T/data/logs/dive-0001.bin"
	echo "pilot settings" >"$T/data/config/settings.conf"
	"$ROOT/scripts/make-sdcard" --board "$BOARD" --main "$OUT/example-main-v1.ext4" --version 1 \
		--main-mib 1024 --data-dir "$T/data" --out "$1" 2>"$T/sdcard.log"
}

# data_digest DISK: a digest of the user's files on the data partition: every file's path, mode
# and content, read with debugfs from a copy of partition 4 (QEMU stopped). The recovery's own
# log directory (lifeboat/) is left out, and so are the file system's mount counters and times:
# mounting ext4 read-write changes its superblock and journal, so bytes cannot stay identical
# while main and the recovery use the partition; what must stay identical is what is in it.
data_digest() {
	local p=$T/.data-part d=$T/.data-tree
	rm -rf "$d" && mkdir -p "$d" && part_extract "$1" 4 "$p" || return 1
	debugfs -R "rdump / $d" "$p" >/dev/null 2>&1
	rm -rf "$d/lifeboat" "$d/lost+found" "$p"
	(cd "$d" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum; find . -printf '%p %m\n' | sort) |
		sha256sum | cut -c1-64
}

# main_shell COMMAND SECONDS: runs COMMAND in main's root shell on the serial console and waits
# for its output line "E2E <tag> ..."; the line is in VM_MATCH. The tag keeps an old answer from
# matching a new question.
main_shell() {
	local tag=$RANDOM$RANDOM mark
	mark=$(vm_console_mark)
	vm_type "echo E2E $tag \$($1)" || return 1
	vm_wait_console "^E2E $tag " "$2" "$mark"
}

# wait_main VERSION MARK: main of VERSION booted after MARK and marked itself good (its boot
# state shows the full attempts again). Sets MAIN_SECONDS (boot to the marker line).
wait_main() {
	local t0
	t0=$(vm_now_us)
	vm_wait_console "LIFEBOAT-MAIN version=" "$BOOT_LIMIT" "$2" || { WHY="main did not boot"; return 1; }
	[[ $VM_MATCH == *"version=$1"* ]] || { WHY="main booted, but $VM_MATCH"; return 1; }
	MAIN_SECONDS=$(seconds_since "$t0")
	vm_wait_console "root@companion" 60 "$2" || { WHY="no root shell on the serial console"; return 1; }
	local i
	for i in $(seq 1 30); do
		main_shell "lifeboat status --json | tr -d ' '" 20 && [[ $VM_MATCH == *'"attempts_left":3'* ]] && return 0
		sleep 2
	done
	WHY="main $1 did not mark itself good: ${VM_MATCH:-no answer}"
	return 1
}

# wait_recovery MARK: the recovery's page answers (after MARK on the console: the recovery's
# boot line from the boot loader). Sets RECOVERY_REASON (lifeboat.reason= that it passed).
wait_recovery() {
	vm_wait_console "lifeboat: booting recovery" "$BOOT_LIMIT" "$1" || { WHY="the recovery did not boot"; return 1; }
	RECOVERY_REASON=$(sed 's/.*reason: \([a-z-]*\).*/\1/' <<<"$VM_MATCH")
	vm_wait_http /api/status "$BOOT_LIMIT" || { WHY="the recovery booted but its page did not answer"; return 1; }
}

# upload BUNDLE: POST /api/install; sets HTTP_CODE and the answer in $T/install.json.
upload() {
	HTTP_CODE=$(curl -sS --max-time 900 -o "$T/install.json" -w '%{http_code}' --upload-file "$1" -X POST \
		-H 'Content-Type: application/octet-stream' "$VM_URL/api/install" 2>"$T/curl.err")
}

# reboot_to TARGET: POST /api/reboot {"target": TARGET}; true on 202.
reboot_to() {
	[ "$(curl -sS --max-time 20 -o "$T/reboot.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"target\":\"$1\"}" "$VM_URL/api/reboot" 2>&1)" = 202 ]
}

save_console() { cp "$VM_CONSOLE" "$E2E_LOGS/$1${E2E_SUFFIX:+-$BOARD}.console.log" 2>/dev/null; }
