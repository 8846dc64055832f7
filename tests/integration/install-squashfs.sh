#!/usr/bin/env bash
# Installs of squashfs images made by mksquashfs: the installer checks the written file system
# after the read-back and reports the system version it names (CLI text and JSON, the install
# CGI's answer, the log). A bundle made from a damaged squashfs is correctly signed and hashed,
# every chunk is written and read back, and still it is refused with filesystem-invalid before
# main is put back into the boot order.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/http-lib.sh"
N=/install/squashfs

for c in mksquashfs grub-editenv lighttpd; do
	command -v "$c" >/dev/null || { fail $N "$c is missing: run scripts/install-deps"; exit 0; }
done
make_keys || { fail $N "cannot make keys"; exit 1; }

# A small root file system as a companion image has one, with Debian's os-release link.
mkdir -p "$T/tree/etc" "$T/tree/usr/lib" "$T/tree/usr/bin" "$T/tree/var/log"
printf 'PRETTY_NAME="Companion OS 3 (bookworm)"\nNAME="Companion OS"\nVERSION="3"\n' >"$T/tree/usr/lib/os-release"
ln -s ../usr/lib/os-release "$T/tree/etc/os-release"
cp "$LB" "$T/tree/usr/bin/"
head -c 3000000 /dev/urandom >"$T/tree/usr/bin/data"
mksquashfs "$T/tree" "$T/root.sqfs" -noappend -quiet -no-progress -comp zstd >/dev/null &&
	make_bundle "$T/good.lifeboat" "$T/root.sqfs" --version 3.0 || { fail $N "cannot make the bundle"; exit 1; }

# A damaged copy: 64 bytes inside the directory table (offset 72 of the super block says where)
# overwritten before the bundle is made, so that the bundle itself is faithful to it.
cp "$T/root.sqfs" "$T/damaged.sqfs"
dirs=$(od -An -tu8 -j72 -N8 "$T/damaged.sqfs" | tr -d ' ')
head -c 64 /dev/urandom | dd of="$T/damaged.sqfs" bs=1 seek=$((dirs + 4)) conv=notrunc status=none
make_bundle "$T/damaged.lifeboat" "$T/damaged.sqfs" --version 3.1 || { fail $N "cannot make the damaged bundle"; exit 1; }
check $N/damaged-bundle-verifies "$LBB" verify --keyring "$T/keyring" "$T/damaged.lifeboat"

# ---- the CLI, with GRUB boot control as on the device ----

boot_conf() { # the configuration, with a fresh GRUB environment in which main is bootable
	rm -f "$T/grubenv" && grub-editenv "$T/grubenv" create &&
		grub-editenv "$T/grubenv" set LB_ORDER="main recovery" LB_main_LEFT=2 LB_main_VERSION=1.0 &&
		printf 'compatible = test-board\nkeyring = %s\ntarget.rootfs = %s\nboot-backend = grub\nboot-env = %s\n' \
			"$T/keyring" "$T/target" "$T/grubenv" >"$T/boot.conf"
}
boot_state() { grub-editenv "$T/grubenv" list | grep -E '^LB_(ORDER|main_LEFT|main_VERSION)=' | sort | paste -sd' ' -; }

truncate -s 16M "$T/target"
boot_conf
"$LB" install --json --config "$T/boot.conf" "$T/good.lifeboat" >"$T/out.json" 2>"$T/err.txt"
rc=$?
IFS=$'\t' read -r result type version source inodes < <(jq -r 'select(.event == "result") |
	[.result, .filesystems[0].type, .filesystems[0].version, .filesystems[0].version_source, .filesystems[0].inodes] |
	map(tostring) | @tsv' "$T/out.json")
if [ $rc -ne 0 ]; then
	fail $N/ok/json "exit $rc: $(tail -n 1 "$T/out.json") $(cat "$T/err.txt")"
elif [ "$result $type" != "installed squashfs" ] || [ "$version" != "Companion OS 3 (bookworm)" ] ||
	[ "$source" != /etc/os-release ] || [ "$inodes" -lt 8 ]; then
	fail $N/ok/json "result: $(tail -n 1 "$T/out.json")"
else
	pass $N/ok/json
fi
check $N/ok/activated test "$(boot_state)" = "LB_ORDER=main recovery LB_main_LEFT=3 LB_main_VERSION=3.0"

# the text says it too, and names the image's own version file when there is one
echo "companion 3.0.7" >"$T/tree/etc/lifeboat-version"
mksquashfs "$T/tree" "$T/own.sqfs" -noappend -quiet -no-progress >/dev/null && make_bundle "$T/own.lifeboat" "$T/own.sqfs"
boot_conf
"$LB" install --config "$T/boot.conf" "$T/own.lifeboat" >"$T/out.txt" 2>&1
check $N/ok/text grep -qx 'rootfs: squashfs checked ([0-9]* inodes), system "companion 3.0.7" from /etc/lifeboat-version' "$T/out.txt"

# The damaged one: written, read back, refused with the new code; main stays out of the order.
boot_conf
"$LB" install --json --config "$T/boot.conf" "$T/damaged.lifeboat" >"$T/out.json" 2>"$T/err.txt"
rc=$?
want=$(code_number filesystem-invalid)
IFS=$'\t' read -r code target msg < <(last_event code target message)
if [ -z "$want" ] || [ $rc -ne "$want" ] || [ "$code" != filesystem-invalid ] || [ "$target" != invalid ]; then
	fail $N/damaged/refused "exit $rc (want ${want:-?}): $(tail -n 1 "$T/out.json")"
elif [[ "$msg" != *"image 'rootfs' was written and read back exactly as signed, but it is not a valid file system"* ]]; then
	fail $N/damaged/refused "message: $msg"
else
	pass $N/damaged/refused
fi
check $N/damaged/written cmp -n "$(size_of "$T/damaged.sqfs")" "$T/damaged.sqfs" "$T/target"
# main left the order before the first write (its version forgotten with it) and did not come back
check $N/damaged/not-activated test "$(boot_state)" = "LB_ORDER=recovery LB_main_LEFT=0 LB_main_VERSION="
# the same without a read-back: the file system is checked all the same
boot_conf
install_to "$T/target" --no-readback <"$T/damaged.lifeboat"
check $N/damaged/no-readback test "$(json_field code)" = filesystem-invalid

# ---- the install CGI: its answer and the log ----

ensure_users
truncate -s 16M "$T/main"
grant_main "$T/main"
if ! start_server "$T/main"; then
	fail $N/http "the server did not start: $(tail -n 3 "$T/server.log")"
	exit 0
fi
code=$(post_bundle "$T/good.lifeboat")
got=$(resp '[.result, .filesystems[0].type, .filesystems[0].version] | join("|")' 2>/dev/null)
check $N/http/ok test "$code $got" = "200 installed|squashfs|Companion OS 3 (bookworm)"
curl -sS "$URL/api/log" >"$T/log.txt"
check $N/http/log grep -q 'install: rootfs: squashfs checked ([0-9]* inodes), system "Companion OS 3 (bookworm)" from /etc/os-release' "$T/log.txt"
code=$(post_bundle "$T/damaged.lifeboat")
got=$(resp '.error.code + " " + .error.target' 2>/dev/null)
check $N/http/damaged test "$code $got" = "400 filesystem-invalid invalid"
check $N/http/damaged-status test "$(status_field '.state + " " + .last_result.code + " " + .main.state')" = "failed filesystem-invalid invalid"
stop_server
