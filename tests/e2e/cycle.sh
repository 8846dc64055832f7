#!/usr/bin/env bash
# The whole cycle on a virtual companion (QEMU under TCG, one VM that reboots by itself as a
# device does): `make e2e` on board qemu-x86_64 (GRUB), part of make check; `make e2e-arm64` on
# board qemu-arm64 (U-Boot; E2E_BOARD=qemu-arm64, tests/e2e/lib.sh), not in make check.
#   1. main v1 boots from the card and marks itself good;
#   2. `lifeboat reboot-recovery` typed in main's shell: the recovery's page answers through the
#      forwarded port;
#   3. v2 uploaded with curl, installed and verified; POST /api/reboot {"target":"main"};
#   4. main v2 boots and marks itself good; `lifeboat status` in main shows version 2;
#   5. the user's files on the data partition are the same at the end as at the start; the
#      recovery partition is byte-identical, and root in main cannot write it (udev made it
#      read-only);
#   6. v3, whose kernel cannot be loaded: main fails its attempts and the device is back in the
#      recovery, whose /api/status says why.
# Prints "ok /e2e/STEP # SECONDS s" per step (/e2e/BOARD/STEP for another board than the
# default); E2E_KEEP=1 keeps the disk ($T is printed).
source "$(dirname "$0")/lib.sh"
N=/e2e$E2E_SUFFIX

if ! e2e_need; then
	fail $N "$MISSING is missing"
	exit 0
fi
trap 'vm_kill; save_console cycle; if [ -n "${E2E_KEEP:-}" ]; then echo "# kept $T" >&2; else cleanup; fi' EXIT

# step NAME START_US: passes NAME with the time since START_US, or fails it with $WHY and stops.
step_ok() { pass "$N/$1 # $(seconds_since "$2") s${3:+; $3}"; }
step_fail() {
	fail "$N/$1" "$WHY; console: $(vm_console_excerpt "${MARK:-0}" 4)"
	exit 0
}

t=$(vm_now_us)
DISK=$T/sdcard.img
e2e_bundle 2 "$OUT/example-main-v2.ext4" "$T/v2.lifeboat" && e2e_bundle 3 "$OUT/example-main-v3-broken.ext4" "$T/v3.lifeboat" ||
	{ fail $N/setup "cannot make the bundles"; exit 0; }
e2e_card "$DISK" || { fail $N/setup "make-sdcard: $(tail -n 3 "$T/sdcard.log")"; exit 0; }
DATA0=$(data_digest "$DISK")
RECOVERY0=$(part_digest "$DISK" 2)
step_ok setup "$t" "card $(($(disk_size_of "$DISK") >> 20)) MiB, bundles v2 $(($(disk_size_of "$T/v2.lifeboat") >> 20)) MiB, v3 $(($(disk_size_of "$T/v3.lifeboat") >> 20)) MiB"

# 1. main v1
t=$(vm_now_us)
MARK=0
vm_start "$DISK" "$(free_port)"
wait_main 1 "$MARK" || step_fail main-v1-boots
step_ok main-v1-boots "$t" "main up in $MAIN_SECONDS s, marked good"

# 5a. root in main cannot write the recovery partition: the udev rule set it read-only
main_shell "blockdev --getro /dev/vda2; dd if=/dev/zero of=/dev/vda2 bs=4k count=1 oflag=direct conv=notrunc 2>&1 | grep -o 'Operation not permitted' | head -n 1" 30
if [[ $VM_MATCH == *"1 Operation not permitted"* ]]; then pass "$N/recovery-read-only-in-main # blockdev --getro 1, dd refused"; else
	fail "$N/recovery-read-only-in-main" "as root in main: ${VM_MATCH:-no answer}"; fi

# 2. from main into the recovery
t=$(vm_now_us)
MARK=$(vm_console_mark)
vm_type "lifeboat reboot-recovery"
wait_recovery "$MARK" || step_fail reboot-recovery
[ "$RECOVERY_REASON" = requested ] || { WHY="the recovery booted with reason '$RECOVERY_REASON', not requested"; step_fail reboot-recovery; }
step_ok reboot-recovery "$t" "page answers; reason $RECOVERY_REASON"

# 3. v2 over HTTP, then reboot into main
t=$(vm_now_us)
upload "$T/v2.lifeboat"
if [ "$HTTP_CODE" != 200 ] || [ "$(jq -r .result "$T/install.json" 2>/dev/null)" != installed ]; then
	WHY="HTTP $HTTP_CODE: $(head -c 300 "$T/install.json") $(cat "$T/curl.err")"
	step_fail install-v2
fi
status=$(curl -sS --max-time 10 "$VM_URL/api/status")
got=$(jq -r '[.main.version, .boot.order[0].slot, (.boot.order[0].attempts_left | tostring)] | join(" ")' <<<"$status")
[ "$got" = "2 main 3" ] || { WHY="after the install /api/status says '$got', not '2 main 3'"; step_fail install-v2; }
step_ok install-v2 "$t" "$(($(disk_size_of "$T/v2.lifeboat") * 10 / ($(vm_now_us) - t + 1))) MB/s over the forwarded port, verified and read back"

t=$(vm_now_us)
MARK=$(vm_console_mark)
reboot_to main || { WHY="POST /api/reboot: $(cat "$T/reboot.json")"; step_fail reboot-main; }

# 4. main v2 boots, marks itself good, and says it is version 2
wait_main 2 "$MARK" || step_fail main-v2-boots
main_shell "lifeboat status --json | tr -d ' '" 20 && [[ $VM_MATCH == *'"version":"2"'* ]] ||
	{ WHY="lifeboat status in main: ${VM_MATCH:-no answer}"; step_fail main-v2-boots; }
step_ok main-v2-boots "$t" "main up in $MAIN_SECONDS s, marked good, lifeboat status shows version 2"

# 6. v3 with a kernel that cannot be loaded: attempts run out, the recovery boots and says why
t=$(vm_now_us)
MARK=$(vm_console_mark)
vm_type "lifeboat reboot-recovery"
wait_recovery "$MARK" || step_fail install-v3
upload "$T/v3.lifeboat"
[ "$HTTP_CODE" = 200 ] || { WHY="v3 upload: HTTP $HTTP_CODE $(head -c 300 "$T/install.json")"; step_fail install-v3; }
MARK=$(vm_console_mark)
reboot_to main || { WHY="POST /api/reboot: $(cat "$T/reboot.json")"; step_fail install-v3; }
wait_recovery "$MARK" || step_fail broken-main-falls-back
failed=$(vm_console_since "$MARK" | grep -ac 'lifeboat: main could not be loaded')
[ "$RECOVERY_REASON" = attempts-exhausted ] && [ "$failed" -eq 3 ] ||
	{ WHY="reason '$RECOVERY_REASON' after $failed failed attempts (expected attempts-exhausted after 3)"; step_fail broken-main-falls-back; }
status=$(curl -sS --max-time 10 "$VM_URL/api/status")
why=$(jq -r '[.recovery.boot_reason, .recovery.last_failure.reason] | join(" ")' <<<"$status" 2>/dev/null)
[ "$why" = "attempts-exhausted attempts-exhausted" ] || { WHY="/api/status does not say why: $(jq -c .recovery <<<"$status")"; step_fail broken-main-falls-back; }
step_ok broken-main-falls-back "$t" "3 failed attempts, recovery with reason $RECOVERY_REASON, /api/status says $why"

# 5. the user's data, read on the host with QEMU stopped
vm_kill
DATA1=$(data_digest "$DISK")
if [ -n "$DATA0" ] && [ "$DATA0" = "$DATA1" ]; then pass "$N/data-untouched # ${DATA0:0:16}"; else
	fail "$N/data-untouched" "the data partition's files changed: $DATA0 -> $DATA1"; fi
RECOVERY1=$(part_digest "$DISK" 2)
if [ -n "$RECOVERY0" ] && [ "$RECOVERY0" = "$RECOVERY1" ]; then pass "$N/recovery-unchanged # ${RECOVERY0:0:16}"; else
	fail "$N/recovery-unchanged" "partition 2 changed: $RECOVERY0 -> $RECOVERY1"; fi
