#!/usr/bin/env bash
# Power cuts at random instants (`make torture` K=100; K=10 inside make e2e): QEMU is killed
# with SIGKILL while an update streams in (receiving, writing, read-back, the boot state switch:
# the instant is uniform over a whole install) or while main boots for the first time after an
# update. Each time the same disk boots again and must reach a working system (the recovery's
# page answers, or main boots and marks itself good), the user's files on the data partition
# must be unchanged, and a re-upload must then succeed.
# Prints one line per cut and "ok /e2e/torture # survived K/K ...". Knobs: TORTURE_K (default
# 10), TORTURE_SEED (default random; printed, so a run can be repeated), TORTURE_BOOT_SHARE
# (percent of cuts during main's first boot, default 20), TORTURE_JOBS (default 1: devices
# tortured at once, each with its own card, VM and port, the K cuts shared out between them;
# an emulated boot leaves a core idle much of the time, so two at once get through more cuts).
source "$(dirname "$0")/lib.sh"
N=/e2e$E2E_SUFFIX/torture
K=${TORTURE_K:-10}
SEED=${TORTURE_SEED:-$((RANDOM * 32768 + RANDOM))}
BOOT_SHARE=${TORTURE_BOOT_SHARE:-20}
JOBS=${TORTURE_JOBS:-1}

# Several devices at once: each job is this script with its share of K and its own seed (SEED +
# job number); their lines come through as comments marked with the job, and one line adds
# them up, so that the cuts count as one test.
if [ "$JOBS" -gt 1 ]; then
	trap cleanup EXIT
	for j in $(seq 1 "$JOBS"); do
		TORTURE_JOBS=1 TORTURE_K=$(((K + JOBS - j) / JOBS)) TORTURE_SEED=$((SEED + j)) \
			bash "$0" >"$T/job-$j.log" 2>&1 &
	done
	wait
	survived=0 failed=0 slowest=0 slowest_at=""
	for j in $(seq 1 "$JOBS"); do
		sed "s/^/# job $j: /" "$T/job-$j.log"
		line=$(grep -E "^(ok|FAIL) $N( |:)" "$T/job-$j.log" | tail -n 1)
		if [[ $line =~ survived\ ([0-9]+)/([0-9]+) ]]; then
			survived=$((survived + BASH_REMATCH[1]))
			failed=$((failed + BASH_REMATCH[2] - BASH_REMATCH[1]))
		else
			failed=$((failed + (K + JOBS - j) / JOBS))
		fi
		if [[ $line =~ slowest\ back\ to\ working:\ ([0-9.]+)\ s\ \((.*)\)$ ]] &&
			awk -v a="${BASH_REMATCH[1]}" -v b="$slowest" 'BEGIN { exit !(a > b) }'; then
			slowest=${BASH_REMATCH[1]} slowest_at="job $j, ${BASH_REMATCH[2]}"
		fi
	done
	if [ "$failed" -eq 0 ]; then
		pass "$N # survived $survived/$K cuts in $JOBS jobs (seed $SEED + job); slowest back to working: $slowest s ($slowest_at)"
	else
		fail $N "survived $survived/$K cuts in $JOBS jobs (seed $SEED + job)"
	fi
	exit 0
fi

if ! e2e_need; then
	fail $N "$MISSING is missing"
	exit 0
fi
trap 'vm_kill; save_console torture; cleanup' EXIT
RANDOM=$SEED

why() { echo "$WHY; console: $(vm_console_excerpt "${MARK:-0}" 3)"; }

DISK=$T/sdcard.img
e2e_bundle 2 "$OUT/example-main-v2.ext4" "$T/v2.lifeboat" || { fail $N "cannot make the bundle"; exit 0; }
mkdir -p "$T/data/config"
echo "pilot settings" >"$T/data/config/settings.conf"
head -c 2M /dev/urandom >"$T/data/config/calibration.bin"
"$ROOT/scripts/make-sdcard" --board "$BOARD" --main "$OUT/example-main-v1.ext4" --version 1 --main-mib 1024 \
	--data-dir "$T/data" --start-in recovery --out "$DISK" 2>"$T/sdcard.log" ||
	{ fail $N "make-sdcard: $(tail -n 3 "$T/sdcard.log")"; exit 0; }
DATA0=$(data_digest "$DISK")
PORT=$(free_port)

# working: after a (re)start, wait for a working system. Main that boots must mark itself good,
# and is then asked for the recovery, where the re-upload happens. Sets LANDED (recovery or
# main) and RECOVERED_S.
working() {
	local t0 i
	t0=$(vm_now_us)
	LANDED=""
	for i in $(seq 1 $((BOOT_LIMIT * 2))); do
		if curl -sf --max-time 2 -o /dev/null "$VM_URL/api/status" 2>/dev/null; then LANDED=recovery; break; fi
		if vm_console_since "$MARK" | grep -aq 'LIFEBOAT-MAIN version='; then LANDED=main; break; fi
		vm_running || break
		sleep 0.5
	done
	[ -n "$LANDED" ] || { WHY="neither the recovery's page nor main within $BOOT_LIMIT s"; return 1; }
	if [ $LANDED = main ]; then
		local version
		version=$(vm_console_since "$MARK" | grep -ao 'LIFEBOAT-MAIN version=[0-9]*' | tail -n 1)
		wait_main "${version##*=}" "$MARK" || return 1
	fi
	RECOVERED_S=$(seconds_since "$t0")
	if [ $LANDED = main ]; then
		MARK=$(vm_console_mark)
		vm_type "lifeboat reboot-recovery"
		wait_recovery "$MARK" || return 1
	fi
}

# full_install: v2 uploaded completely; true when installed. Sets INSTALL_S.
full_install() {
	local t0
	t0=$(vm_now_us)
	upload "$T/v2.lifeboat"
	INSTALL_S=$(seconds_since "$t0")
	# cuts are drawn over the longest install seen, so that the last phases get their share
	local us=$(($(vm_now_us) - t0))
	[ "$us" -le "${install_us:-0}" ] || install_us=$us
	[ "$HTTP_CODE" = 200 ] && [ "$(jq -r .result "$T/install.json" 2>/dev/null)" = installed ] ||
		{ WHY="re-upload: HTTP $HTTP_CODE $(head -c 200 "$T/install.json") $(cat "$T/curl.err")"; return 1; }
}

# ---- the first boot and a reference install: how long an install and main's boot take ----

MARK=$(vm_console_mark)
vm_start "$DISK" "$PORT"
working && full_install || { fail $N "the first boot or install failed: $(why)"; exit 0; }
t0=$(vm_now_us)
MARK=$(vm_console_mark)
reboot_to main && wait_main 2 "$MARK" || { fail $N "main v2 did not come up after the reference install: $(why)"; exit 0; }
boot_us=$(($(vm_now_us) - t0))
MARK=$(vm_console_mark)
vm_type "lifeboat reboot-recovery"
wait_recovery "$MARK" || { fail $N "no way back to the recovery: $(why)"; exit 0; }
echo "# torture: seed $SEED, K=$K; an install takes $INSTALL_S s, main's first boot to good $((boot_us / 1000000)) s"

survived=0 slowest=0 slowest_at="" phases=""
for k in $(seq 1 "$K"); do
	if [ $((RANDOM % 100)) -lt "$BOOT_SHARE" ]; then
		phase=first-boot
		full_install || { fail "$N/cut-$k" "$(why)"; break; }
		at_us=$(((RANDOM * 32768 + RANDOM) % boot_us))
		reboot_to main || { fail "$N/cut-$k" "POST /api/reboot failed"; break; }
	else
		phase=install
		at_us=$(((RANDOM * 32768 + RANDOM) % (install_us + 2000000)))
		upload "$T/v2.lifeboat" &
		upload_pid=$!
	fi
	t_cut=$(vm_now_us)
	sleep "$(awk -v u="$at_us" 'BEGIN { printf "%.3f", u / 1e6 }')"
	# where it was cut: the device's own phase, when it can still tell
	state=$phase
	[ "$phase" = first-boot ] || state=$(curl -sf --max-time 1 "$VM_URL/api/status" 2>/dev/null | jq -r .state 2>/dev/null)
	vm_kill
	[ "$phase" = install ] && { kill "$upload_pid" 2>/dev/null; wait "$upload_pid" 2>/dev/null; }
	at=$(seconds_since "$t_cut")
	data=$(data_digest "$DISK")
	MARK=$(vm_console_mark)
	vm_start "$DISK" "$PORT"
	if [ "$data" != "$DATA0" ]; then
		fail "$N/cut-$k" "$phase at $at s (${state:-booting}): the data partition's files changed"
	elif ! working; then
		fail "$N/cut-$k" "$phase at $at s (${state:-booting}): $(why)"
	elif ! full_install; then
		fail "$N/cut-$k" "$phase at $at s (${state:-booting}): landed in $LANDED, then $(why)"
	else
		survived=$((survived + 1))
		phases+=" ${state:-$phase}"
		echo "# cut $k: $phase at $at s (${state:-booting}) -> $LANDED working after $RECOVERED_S s; re-upload installed in $INSTALL_S s"
		if awk -v a="$RECOVERED_S" -v b="$slowest" 'BEGIN { exit !(a > b) }'; then
			slowest=$RECOVERED_S slowest_at="$phase at $at s"
		fi
		continue
	fi
	# a failed cut leaves the VM in an unknown state: start again from a known one
	vm_kill
	MARK=$(vm_console_mark)
	vm_start "$DISK" "$PORT"
	working || { fail $N "the device no longer comes up: $(why)"; break; }
done

if [ "$survived" -eq "$K" ]; then
	pass "$N # survived $survived/$K cuts (seed $SEED; cut while:$(tr ' ' '\n' <<<"$phases" | grep -v '^$' | sort | uniq -c | awk 'NF { printf " %s %d", $2, $1 }')); slowest back to working: $slowest s ($slowest_at)"
else
	fail $N "survived $survived/$K cuts (seed $SEED)"
fi
