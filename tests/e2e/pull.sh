#!/usr/bin/env bash
# An unattended update pulled from a URL on a virtual companion (QEMU under TCG, part of make
# check with the other whole-cycle tests; docs/pull.md):
#   1. main v1 boots from the card and marks itself good;
#   2. `lifeboat reboot-recovery --install URL` typed in main's shell, the URL a real nginx on
#      the host (10.0.2.2 from inside QEMU's user-mode network) behind a relay that cuts the
#      first two connections part-way, as a wet connector does;
#   3. the recovery boots, takes the request, reads the bundle's header, finds what main v1
#      already holds of v2 and pulls only the rest by Range requests (resuming one after the
#      cut), installs it and reboots into main by itself;
#   4. main v2 boots and marks itself good, and `lifeboat status` in main shows the pull's result;
#   5. the user's files on the data partition are the same at the end as at the start.
# Prints "ok /e2e/pull/STEP # SECONDS s" per step.
source "$(dirname "$0")/lib.sh"
N=/e2e$E2E_SUFFIX/pull

if ! e2e_need; then
	fail $N "$MISSING is missing"
	exit 0
fi
command -v nginx >/dev/null || { fail $N "nginx is missing (scripts/install-deps)"; exit 0; }
trap 'vm_kill; save_console pull; cleanup' EXIT

step_ok() { pass "$N/$1 # $(seconds_since "$2") s${3:+; $3}"; }
step_fail() {
	fail "$N/$1" "$WHY; console: $(vm_console_excerpt "${MARK:-0}" 4)"
	exit 0
}

t=$(vm_now_us)
DISK=$T/sdcard.img
mkdir -p "$T/www"
e2e_bundle 2 "$OUT/example-main-v2.ext4" "$T/www/companion-2.lifeboat" || { fail $N/setup "cannot make the bundle"; exit 0; }
e2e_card "$DISK" || { fail $N/setup "make-sdcard: $(tail -n 3 "$T/sdcard.log")"; exit 0; }
DATA0=$(data_digest "$DISK")
size=$(disk_size_of "$T/www/companion-2.lifeboat")

# The topside's file server: nginx on the host's loopback, which QEMU's user-mode network shows
# the guest as 10.0.2.2; in front of it the relay of the pull tests, cutting the first
# connection after a third of the bundle.
HTTP_PORT=$(free_port)
nginx_start "http://127.0.0.1:$HTTP_PORT/companion-2.lifeboat" "server { listen 127.0.0.1:$HTTP_PORT; root $T/www; }" 2>"$T/nginx.err" ||
	{ fail $N/setup "$(cat "$T/nginx.err")"; exit 0; }
# The first connection asks for the whole file and is left after the header; the second is the
# first range of the delta: both are cut 30 KB in.
cut_relay_start "$HTTP_PORT" 30000 2 2>"$T/relay.err" || { fail $N/setup "$(cat "$T/relay.err")"; exit 0; }
URL=http://10.0.2.2:$RELAY_PORT/companion-2.lifeboat
step_ok setup "$t" "bundle $((size >> 20)) MiB at $URL, first two connections cut at 30000 bytes"

# 1. main v1
t=$(vm_now_us)
MARK=0
vm_start "$DISK" "$(free_port)"
wait_main 1 "$MARK" || step_fail main-v1-boots
step_ok main-v1-boots "$t" "main up in $MAIN_SECONDS s, marked good"

# 2. the request, from main's shell, as a script on main would make it
t=$(vm_now_us)
MARK=$(vm_console_mark)
vm_type "lifeboat reboot-recovery --install $URL"
wait_recovery "$MARK" || step_fail reboot-recovery-install
step_ok reboot-recovery-install "$t" "reason $RECOVERY_REASON"

# 3. + 4. the recovery pulls, installs and reboots into main v2 on its own
t=$(vm_now_us)
MARK2=$(vm_console_mark)
wait_main 2 "$MARK2" || step_fail pulled-and-main-v2-boots
step_ok pulled-and-main-v2-boots "$t" "main v2 up in $MAIN_SECONDS s after the recovery's page answered, marked good"

main_shell "lifeboat status --json | tr -d ' ' | grep -o '\"last_pull\":.*'" 30
pulled=$(grep -o '"bundle_size":[0-9]*' <<<"$VM_MATCH" | cut -d: -f2)
if [[ $VM_MATCH == *'"result":"installed"'* && $VM_MATCH =~ \"reconnects\":[1-9] && $VM_MATCH == *"$URL"* ]]; then
	pass "$N/result-in-main # $(cut -c1-200 <<<"${VM_MATCH#E2E * }")"
else
	fail "$N/result-in-main" "lifeboat status in main: ${VM_MATCH:-no answer}"
fi
# Main v1 held most of v2: the recovery pulled a fraction of the bundle.
if [ -n "$pulled" ] && [ "$pulled" -lt "$size" ]; then
	pass "$N/delta # pulled $pulled of $size bytes ($((pulled * 100 / size)) %)"
else
	fail "$N/delta" "pulled ${pulled:-?} of $size bytes"
fi
cuts=$(grep -c 'cut connection' "$T/relay.log")
ranges=$(grep -c '"GET /companion-2.lifeboat.* 206 ' "$T/nginx/access.log")
if [ "$cuts" -ge 1 ] && [ "$ranges" -ge 2 ]; then pass "$N/resumed-by-range # $cuts cut, $ranges requests to nginx"; else
	fail "$N/resumed-by-range" "relay cuts $cuts, nginx requests $ranges: $(tail -n 3 "$T/nginx/access.log")"; fi

# 5. the user's files
vm_kill
if [ "$(data_digest "$DISK")" = "$DATA0" ]; then pass "$N/data-unchanged"; else
	fail "$N/data-unchanged" "the user's files on the data partition changed"; fi
