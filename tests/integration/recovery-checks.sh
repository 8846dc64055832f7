#!/usr/bin/env bash
# The recovery's boot-time checks, run as its units run them, on a partition like the card's:
# `lifeboat self-check` on a loop device larger than the squashfs (hashing exactly the file
# system's bytes, and accepting the sha256sum of the padded file that the build records), its
# exit codes, and its result in /api/status; `lifeboat boot-reason --record` keeping a failed
# boot across a later boot by request, in the log directory, and /api/status showing it.
source "$(dirname "$0")/../lib.sh"
N=/recovery-checks

command -v mksquashfs >/dev/null || { fail $N "mksquashfs is missing: run scripts/install-deps"; exit 0; }

# ---- the image, on a partition with room to spare, as on the card ----
mkdir -p "$T/tree/etc" "$T/state" "$T/log"
head -c 2000000 /dev/urandom >"$T/tree/blob"
echo "recovery" >"$T/tree/etc/lifeboat-version"
mksquashfs "$T/tree" "$T/recovery.squashfs" -noappend -quiet -no-progress -comp zstd >/dev/null ||
	{ fail $N "mksquashfs failed"; exit 0; }
recorded=$(sha256sum <"$T/recovery.squashfs" | cut -c1-64) # as rootfs/build records it
cp "$T/recovery.squashfs" "$T/partition"
head -c 3M /dev/urandom >>"$T/partition" # the partition's unused rest: not the image's
part=$(loop_attach "$T/partition" --read-only) || { fail $N "no loop device"; exit 0; }

printf 'state-dir = %s\nlog-file = %s/lifeboat.log\n' "$T/state" "$T/log" >"$T/lifeboat.conf"
self_check() { "$LB" self-check --config "$T/lifeboat.conf" --device "$part" "$@"; }
status_json() { # the status CGI's answer, as lighttpd would get it, without the headers
	LIFEBOAT_CONFIG=$T/lifeboat.conf REQUEST_METHOD=GET "$ROOT/build/cgi-bin/status" | sed '1,/^\r\{0,1\}$/d'
}

self_check --expect "$recorded" >"$T/out.txt"
rc=$?
if [ $rc -ne 0 ] || ! grep -q '^recovery image: ok: ' "$T/out.txt"; then
	fail $N/self-check/ok "exit $rc: $(cat "$T/out.txt")"
else
	pass $N/self-check/ok
fi
got=$(status_json | jq -r '.recovery.image | [.check, .device, .sha256, (.hashed_bytes | tostring)] | join(" ")')
check $N/self-check/status test "$got" = "ok $part $recorded $(size_of "$T/recovery.squashfs")"

# from the kernel command line, as the boot loader passes it
echo "root=/dev/vda2 ro lifeboat.sha256=$recorded" >"$T/cmdline"
check $N/self-check/cmdline self_check --cmdline "$T/cmdline"

self_check --expect "$(printf '%064d' 0)" >"$T/out.txt"
rc=$?
if [ "$rc" != "$(code_number recovery-damaged)" ] || ! grep -q 'reflash the card' "$T/out.txt"; then
	fail $N/self-check/mismatch "exit $rc: $(cat "$T/out.txt")"
else
	pass $N/self-check/mismatch
fi
check $N/self-check/mismatch-status test "$(status_json | jq -r '.recovery.image | .check + " " + .expected')" = "mismatch $(printf '%064d' 0)"

echo "root=/dev/vda2 ro" >"$T/cmdline"
check $N/self-check/unknown self_check --cmdline "$T/cmdline"
check $N/self-check/unknown-status test "$(status_json | jq -r .recovery.image.check)" = unknown

"$LB" self-check --config "$T/lifeboat.conf" --device "$T/tree/blob" >"$T/out.txt"
rc=$?
check $N/self-check/unreadable test "$rc $(status_json | jq -r .recovery.image.check)" = "$(code_number io) unreadable"

# ---- the last failed boot ----
boot_reason() { echo "ro lifeboat.reason=$1" >"$T/cmdline" && "$LB" boot-reason --config "$T/lifeboat.conf" --cmdline "$T/cmdline" "${@:2}"; }
check $N/boot-reason/none-yet test "$(status_json | jq -c .recovery.last_failure)" = null
boot_reason attempts-exhausted --record >/dev/null
boot_reason requested --record >/dev/null # a later boot by request
got=$(boot_reason requested --json | jq -r '.reason + " " + .last_failure.reason')
check $N/boot-reason/kept test "$got" = "requested attempts-exhausted"
check $N/boot-reason/in-log-dir grep -qx 'reason=attempts-exhausted' "$T/log/last-failure"
check $N/boot-reason/logged test "$(grep -c 'boot: recovery started: ' "$T/log/lifeboat.log")" = 2
got=$(status_json | jq -r '.recovery.last_failure | .reason + " " + .text + " " + (.time > 0 | tostring)')
check $N/boot-reason/status test "$got" = "attempts-exhausted main used up its boot attempts true"
boot_reason requested >"$T/out.txt"
check $N/boot-reason/text grep -q '^last failure: attempts-exhausted (main used up its boot attempts) at 20' "$T/out.txt"
# the record's directory is the log's: one that cannot be written fails the unit, loudly
printf 'state-dir = %s\nlog-file = %s/missing/lifeboat.log\n' "$T/state" "$T" >"$T/lifeboat.conf"
boot_reason no-main --record >/dev/null 2>&1
check $N/boot-reason/unwritable test $? = "$(code_number io)"
