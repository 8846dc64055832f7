# Delta installs over real HTTP (docs/http-api.md): lighttpd on 127.0.0.1 running the CGI
# programs as an unprivileged user onto a real loop device with GRUB boot control, driven by
# the topside script scripts/lifeboat-upload. Two real ext4 images built with mkfs.ext4 -d from
# two trees (v2 = v1 with one file grown, which moves every file after it, one changed, one
# added); main holds v1, the delta of v2 crosses the wire through a relay that counts the bytes,
# and main ends byte-identical to v2. Refused, with main left as the other install tests leave
# it: a corrupt frame, a body for another bundle than the planned one, main changed between plan
# and send. A connection cut mid-delta is finished by a second, smaller plan. A format-1 bundle
# is planned with its chunks looked for in place only. A plan that saves nothing, and --full,
# make the script send the whole bundle, resumed from the device's session after a cut; a stray
# delta upload (no plan, or a plan for another bundle) beside that cut upload is refused and
# leaves its session. Main rewritten by a whole upload or by a pull (POST /api/install-from-url
# from a local nginx) discards the plan made before (the delta is then no-plan, main untouched);
# a pull also ends a cut upload's session, and the status after a pull, failed or installed,
# shows nothing of the delta install before it.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; chown root:disk "$MAIN" 2>/dev/null; cleanup' EXIT

UPLOAD=$ROOT/scripts/lifeboat-upload
[ -x "$ROOT/build/cgi-bin/install-plan" ] || { fail /delta/setup "build/cgi-bin/install-plan is missing: run make"; exit 1; }
ensure_users
make_keys

# ---- two trees, two images, three bundles ----
# 4 KiB ext4 blocks: the device finds moved chunks at any 4 KiB block of main (docs/delta.md).
mkdir -p "$T/v1/data" "$T/v1/src"
cp -r "$ROOT/cgi/lib" "$T/v1/src/"
for i in $(seq -w 1 20); do random_file "$T/v1/data/blob$i" 150000; done
cp -a "$T/v1" "$T/v2"
# mkfs.ext4 -d allocates in readdir order: the first file grown moves every file after it
# shellcheck disable=SC2010 # ls -f: the readdir order is the point
first=$(ls -f "$T/v2/data" | grep -m 1 blob)
head -c 100000 /dev/urandom >>"$T/v2/data/$first"
random_file "$T/v2/data/added" 200000
echo "/* changed in v2 */" >>"$T/v2/src/lib/install.c"
for v in v1 v2; do
	truncate -s 16M "$T/$v.img"
	mkfs.ext4 -q -F -b 4096 -d "$T/$v" "$T/$v.img" || { fail /delta/setup "mkfs.ext4 $v"; exit 1; }
done
# v3: v2 with 4 KiB of one file rewritten in place, as an update that keeps the layout does
cp "$T/v2.img" "$T/v3.img"
block=$(debugfs -R "bmap /data/blob10 3" "$T/v3.img" 2>/dev/null)
[ -n "$block" ] && [ "$block" -gt 0 ] || { fail /delta/setup "no block for blob10 in v3"; exit 1; }
head -c 4096 /dev/urandom | dd of="$T/v3.img" bs=4096 seek="$block" conv=notrunc status=none
IMAGE_SIZE=$((16 << 20))
make_bundle "$T/v1.lifeboat" "$T/v1.img" --chunk-size 64K --version 1.0 &&
	make_bundle "$T/v2.lifeboat" "$T/v2.img" --chunk-size 64K --version 2.0 &&
	make_bundle "$T/v3-format1.lifeboat" "$T/v3.img" --chunk-size 64K --version 3.0 --format 1 &&
	random_file "$T/random.img" $((4 << 20)) && make_bundle "$T/random.lifeboat" "$T/random.img" --version 4.0 ||
	{ fail /delta/setup "lifeboat-bundle create"; exit 1; }
V2_SIZE=$(size_of "$T/v2.lifeboat")
V2_HEADER=$(header_size "$T/v2.lifeboat")

truncate -s 24M "$T/main.img"
MAIN=$(loop_attach "$T/main.img")
grant_main "$MAIN"
grub-editenv "$T/grubenv" create
printf 'boot-env = %s\n' "$T/grubenv" >"$T/grant-boot.conf"
"$ROOT/overlay/usr/lib/lifeboat/grant-targets" "$T/grant-boot.conf" "$MAIN_GROUP" >/dev/null
start_server "$MAIN" --boot-backend grub --boot-env "$T/grubenv" || { fail /delta/setup "the server did not start"; exit 1; }

boot_order() { grub-editenv "$T/grubenv" list | sed -n 's/^LB_ORDER=//p'; }

# upload [options...] BUNDLE: scripts/lifeboat-upload against the server (or $UPLOAD_URL);
# stdout in $T/up.out, stderr in $T/up.err; returns its exit code.
upload() { "$UPLOAD" "${@:1:$#-1}" "${UPLOAD_URL:-$URL}" "${@: -1}" >"$T/up.out" 2>"$T/up.err"; }

# plan_sends: the bytes to send of each "plan:" line of the last upload ("409.0 kB"), one a line.
plan_sends() { grep -o 'plan: send [0-9.]* [kMG]*B\|plan: send [0-9]* bytes' "$T/up.err" | sed 's/plan: send //'; }

# ask_plan BUNDLE: POST /api/install-plan with the bundle's header; the answer in $T/plan.json,
# the status code on stdout.
ask_plan() {
	head -c "$(header_size "$1")" "$1" >"$T/plan-header"
	curl -sS -o "$T/plan.json" -w '%{http_code}' --data-binary @"$T/plan-header" \
		-H 'Content-Type: application/octet-stream' "$URL/api/install-plan"
}

# delta_body BUNDLE OUT: the concatenation of the ranges of $T/plan.json, taken from BUNDLE.
delta_body() {
	: >"$2"
	jq -r '.plan.ranges[] | "\(.[0]) \(.[1])"' "$T/plan.json" | while read -r off len; do
		dd if="$1" iflag=skip_bytes,count_bytes skip="$off" count="$len" bs=1M status=none >>"$2"
	done
}

# post_delta BODY: POST /api/install?delta=1 with a raw body; the answer in $T/resp.json, the
# status code on stdout.
post_delta() {
	curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$1" -X POST \
		-H 'Content-Type: application/octet-stream' "$URL/api/install?delta=1"
}

# main_holds NAME IMAGE: main begins with IMAGE, byte for byte, and is back in the boot order,
# its state valid.
main_holds() {
	if ! cmp -s -n "$(size_of "$2")" "$2" "$MAIN"; then
		fail "$1" "main differs from $(basename "$2"): $(cmp -n "$(size_of "$2")" "$2" "$MAIN" 2>&1)"
	elif [ "$(boot_order)" != "main recovery" ]; then
		fail "$1" "main is not in the boot order: $(boot_order)"
	elif [ "$(status_field .main.state)" != valid ]; then
		fail "$1" "main is $(status_field .main.state)"
	else
		pass "$1"
	fi
}

# install_v1: main back at v1 with a plain full upload.
install_v1() {
	[ "$(post_bundle "$T/v1.lifeboat")" = 200 ] && cmp -s -n "$IMAGE_SIZE" "$T/v1.img" "$MAIN"
}

# ---- v1 with the script's full upload ----
upload --full "$T/v1.lifeboat"
rc=$?
if [ $rc -ne 0 ]; then
	fail /delta/full-v1 "exit $rc: $(tail -n 3 "$T/up.err")"
elif ! grep -q 'full upload' "$T/up.err" || grep -q 'plan:' "$T/up.err" || ! grep -q '"result": *"installed"' "$T/up.out"; then
	fail /delta/full-v1 "not one full upload: $(cat "$T/up.err" "$T/up.out")"
else
	main_holds /delta/full-v1 "$T/v1.img"
fi

# ---- v2 as a delta, through a relay that counts what crosses ----
# cut_relay CUT_BYTES CUTS: a relay in front of the server that cuts its first CUTS uploads
# after CUT_BYTES bytes and counts what crosses (tests/cut-relay.c); its URL in RELAY_URL.
cut_relay() {
	cut_relay_start "$PORT" "up:$1" "$2" 2>"$T/relay.err" || { fail /delta/setup "$(cat "$T/relay.err")"; exit 1; }
	RELAY_URL=http://127.0.0.1:$RELAY_PORT
}
# stop_relay: its connections ended (each one's process writes its line as it ends), then the
# relay gone.
relay_connections_ended() { ! pgrep -P "$RELAY_PID" >/dev/null; }
stop_relay() {
	wait_until 10 relay_connections_ended
	kill "$RELAY_PID" 2>/dev/null
	wait "$RELAY_PID" 2>/dev/null
}
cut_relay 1 0 # cuts nothing
start=$(date +%s%N)
UPLOAD_URL=$RELAY_URL upload "$T/v2.lifeboat"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
stop_relay
# the delta connection is the one that carried the most; the device's own count is in the state
up=$(sed -n 's/.*relayed whole: \([0-9]*\) bytes up.*/\1/p' "$T/relay.log" | sort -n | tail -n 1)
total_up=$(awk '/relayed whole/ { n += $(NF - 5) } END { print n + 0 }' "$T/relay.log")
# the device's own count, in the state file /api/status shows
IFS=$'\t' read -r received is_delta send_total reused < <(status_field '.progress | [.received, .delta, .send_total, .reused] | @tsv')
if [ $rc -ne 0 ]; then
	fail /delta/v2 "exit $rc: $(tail -n 3 "$T/up.err")"
elif [ "$(plan_sends | wc -l)" != 1 ] || ! grep -q '"result": *"installed"' "$T/up.out"; then
	fail /delta/v2 "not one plan and one install: $(cat "$T/up.err")"
else
	main_holds /delta/v2 "$T/v2.img"
fi
check /delta/v2/version test "$(status_field .main.version)" = 2.0
# what the plan said, against what the wire and the device saw
ask_plan "$T/v2.lifeboat" >/dev/null # main is v2 now: all of it in place
send=$(grep -o 'plan: send .*' "$T/up.err")
echo "# v2: bundle $V2_SIZE bytes (header $V2_HEADER); $send; wire $total_up bytes up ($up in the delta request), device received $received and reused $reused image bytes, $ms ms"
if [ -z "$up" ] || [ "$up" -ge $((V2_SIZE / 4)) ]; then
	fail /delta/v2/bytes "the delta request carried ${up:-nothing} bytes of a $V2_SIZE-byte bundle"
elif [ "$received" -gt "$up" ] || [ $((up - received)) -gt 1000 ]; then
	fail /delta/v2/bytes "the device counts $received bytes received, $up crossed (with the request's head)"
elif [ "$total_up" -ge $((V2_SIZE / 4)) ]; then
	fail /delta/v2/bytes "$total_up bytes crossed in all"
elif [ "$is_delta" != true ] || [ "$send_total" != "$received" ] || [ "$reused" -le 0 ]; then
	fail /delta/v2/bytes "the status does not show a delta install: delta $is_delta, send_total $send_total, reused $reused"
else
	pass "/delta/v2/bytes ($up of $V2_SIZE bytes, $((up * 100 / V2_SIZE)) %)"
fi
check /delta/v2/replan-all-in-place sh -c "test \"\$(jq -r '.plan.send' '$T/plan.json')\" = 0 && test \"\$(jq -r '.plan.send_bytes' '$T/plan.json')\" = $V2_HEADER"

# ---- refused: a frame byte flipped; main left out of the boot order ----
install_v1 || fail /delta/setup "v1 again"
code=$(ask_plan "$T/v2.lifeboat")
delta_body "$T/v2.lifeboat" "$T/body"
check /delta/plan/body-length test "$code $(size_of "$T/body")" = "200 $(jq -r .plan.send_bytes "$T/plan.json")"
flip_bit "$T/body" $((V2_HEADER + 300))
code=$(post_delta "$T/body")
if [ "$code $(resp .error.code)" != "400 chunk-corrupt" ]; then
	fail /delta/refused/chunk-corrupt "HTTP $code $(cat "$T/resp.json")"
elif [ "$(resp .error.target)" != invalid ] || [ "$(boot_order)" != recovery ] || [ "$(status_field .main.state)" != invalid ]; then
	fail /delta/refused/chunk-corrupt "target $(resp .error.target), order $(boot_order), main $(status_field .main.state)"
elif [ -z "$(resp .error.message)" ]; then
	fail /delta/refused/chunk-corrupt "no message"
else
	pass /delta/refused/chunk-corrupt
fi

# ---- refused: no plan, or a body for another bundle than the planned one; main untouched ----
install_v1 || fail /delta/setup "v1 again"
before=$(digest "$MAIN")
code=$(post_delta "$T/body")
check /delta/refused/no-plan sh -c "test '$code $(resp .error.code)' = '409 no-plan' && test '$(digest "$MAIN")' = '$before' && test '$(boot_order)' = 'main recovery'"
ask_plan "$T/v2.lifeboat" >/dev/null
code=$(post_delta "$T/v3-format1.lifeboat")
if [ "$code $(resp .error.code)" != "409 no-plan" ]; then
	fail /delta/refused/other-bundle "HTTP $code $(cat "$T/resp.json")"
elif [ "$(digest "$MAIN")" != "$before" ] || [ "$(boot_order)" != "main recovery" ]; then
	fail /delta/refused/other-bundle "main touched: order $(boot_order)"
else
	pass "/delta/refused/other-bundle ($(resp .error.message))"
fi

# ---- refused: main changed between plan and send; the script then plans again ----
code=$(ask_plan "$T/v2.lifeboat")
delta_body "$T/v2.lifeboat" "$T/body"
# blob10 is the same file in v1 and v2, at another place: the plan copies it from v1's place
block=$(debugfs -R "bmap /data/blob10 0" "$T/v1.img" 2>/dev/null)
head -c 65536 /dev/urandom | dd of="$MAIN" bs=4096 seek="$block" conv=notrunc,fsync status=none
changed=$(digest "$MAIN")
code=$(post_delta "$T/body")
target=$(resp .error.target)
if [ "$code $(resp .error.code)" != "409 plan-stale" ]; then
	fail /delta/refused/plan-stale "HTTP $code $(cat "$T/resp.json")"
elif [ "$target" = untouched ] && { [ "$(digest "$MAIN")" != "$changed" ] || [ "$(boot_order)" != "main recovery" ]; }; then
	fail /delta/refused/plan-stale "reported untouched, but main changed or left the boot order ($(boot_order))"
elif [ "$target" != untouched ] && [ "$(boot_order)" != recovery ]; then
	fail /delta/refused/plan-stale "target $target and main still in the boot order"
else
	pass "/delta/refused/plan-stale (target $target: $(resp .error.message))"
fi
if upload "$T/v2.lifeboat"; then
	main_holds /delta/plan-stale/replanned "$T/v2.img"
else
	fail /delta/plan-stale/replanned "exit $?: $(tail -n 3 "$T/up.err")"
fi

# ---- a cut mid-delta, finished by a second, smaller plan ----
install_v1 || fail /delta/setup "v1 again"
ask_plan "$T/v2.lifeboat" >/dev/null
first_send=$(jq -r .plan.send_bytes "$T/plan.json")
# One attempt only: the cut is the script's failure, main stays out of the boot order. At a
# tether's speed: the device keeps up with what arrives (lighttpd drops what it still holds of
# a cut body, which the loopback's speed would make most of it).
cut_relay $((first_send * 3 / 4)) 1
UPLOAD_URL=$RELAY_URL upload --tries 1 --limit-rate 1M "$T/v2.lifeboat"
rc=$?
wait_idle
if [ $rc -ne 1 ] || ! grep -q 'not installed after 1 attempt' "$T/up.err"; then
	fail /delta/cut/gives-up "exit $rc: $(tail -n 3 "$T/up.err")"
elif [ "$(grep -c 'cut connection' "$T/relay.log")" != 1 ]; then
	fail /delta/cut/gives-up "the relay did not cut: $(cat "$T/relay.log")"
elif [ "$(boot_order)" != recovery ] || [ "$(status_field .last_result.code)" != truncated ]; then
	fail /delta/cut/gives-up "order $(boot_order), last result $(status_field .last_result.code)"
else
	pass /delta/cut/gives-up
fi
stop_relay
ask_plan "$T/v2.lifeboat" >/dev/null
second_send=$(jq -r .plan.send_bytes "$T/plan.json")
check /delta/cut/smaller-plan test "$second_send" -lt "$first_send"
if upload "$T/v2.lifeboat"; then
	main_holds "/delta/cut/finished ($second_send of $first_send bytes sent again)" "$T/v2.img"
else
	fail /delta/cut/finished "exit $?: $(tail -n 3 "$T/up.err")"
fi
# the same cut with the default attempts: the script plans again by itself
install_v1 || fail /delta/setup "v1 again"
cut_relay $((first_send * 3 / 4)) 1
UPLOAD_URL=$RELAY_URL upload --limit-rate 1M "$T/v2.lifeboat"
rc=$?
stop_relay
mapfile -t sends < <(plan_sends)
# what crossed again after the cut: the largest connection relayed whole
again=$(sed -n 's/.*relayed whole: \([0-9]*\) bytes up.*/\1/p' "$T/relay.log" | sort -n | tail -n 1)
if [ $rc -ne 0 ]; then
	fail /delta/cut/resumes "exit $rc: $(tail -n 5 "$T/up.err")"
elif [ "$(grep -c 'cut connection' "$T/relay.log")" != 1 ] || [ ${#sends[@]} != 2 ]; then
	fail /delta/cut/resumes "expected one cut and two plans: $(cat "$T/relay.log" "$T/up.err")"
elif ! grep -q 'attempt 2 of 5' "$T/up.err"; then
	fail /delta/cut/resumes "no second attempt: $(cat "$T/up.err")"
elif [ "${again:-0}" -ge "$first_send" ]; then
	fail /delta/cut/resumes "the second delta carried ${again:-0} bytes, the first plan $first_send"
else
	main_holds "/delta/cut/resumes (plans: ${sends[0]}, then ${sends[1]}; $again bytes sent again)" "$T/v2.img"
fi

# ---- a format-1 bundle: chunks looked for in their own place only ----
if upload "$T/v3-format1.lifeboat"; then
	line=$(grep 'plan:' "$T/up.err")
	if ! grep -q 'bundle format 1' "$T/up.err" || ! [[ $line =~ \(([0-9]+)\ in\ place,\ 0\ moved\) ]] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
		fail /delta/format-1 "not planned in place only: $(cat "$T/up.err")"
	else
		main_holds "/delta/format-1 (${line#*plan: })" "$T/v3.img"
	fi
else
	fail /delta/format-1 "exit $?: $(tail -n 3 "$T/up.err")"
fi

# ---- nothing to reuse: the plan saves nothing, the script sends the bundle whole ----
upload "$T/random.lifeboat"
rc=$?
if [ $rc -ne 0 ] || ! grep -q 'saves less than 5 %: a full upload' "$T/up.err"; then
	fail /delta/no-saving/full-upload "exit $rc: $(cat "$T/up.err")"
else
	main_holds /delta/no-saving/full-upload "$T/random.img"
fi

# ---- a full upload cut: the script resumes it from the device's session ----
RANDOM_SIZE=$(size_of "$T/random.lifeboat")
install_v1 || fail /delta/setup "v1 again"
cut_relay $((RANDOM_SIZE / 2)) 1
UPLOAD_URL=$RELAY_URL upload --full --limit-rate 4M "$T/random.lifeboat"
rc=$?
if [ $rc -ne 0 ]; then
	fail /delta/full-cut/resumes "exit $rc: $(tail -n 5 "$T/up.err")"
elif ! grep -q 'resuming the full upload at byte [1-9]' "$T/up.err" || [ "$(grep -c 'cut connection' "$T/relay.log")" != 1 ]; then
	fail /delta/full-cut/resumes "not resumed after one cut: $(cat "$T/relay.log" "$T/up.err")"
else
	main_holds "/delta/full-cut/resumes ($(grep -o 'at byte [0-9]*' "$T/up.err") of $RANDOM_SIZE)" "$T/random.img"
fi
stop_relay

# ---- a stray delta upload beside a cut full upload: refused, the session kept ----
# session_offset: where GET /api/session says the cut upload resumes ("none" without a session)
session_offset() { curl -sS "$URL/api/session" | jq -r '.resume_offset // "none"'; }
install_v1 || fail /delta/setup "v1 again"
cut_relay $((RANDOM_SIZE / 2)) 1
UPLOAD_URL=$RELAY_URL upload --full --tries 1 --limit-rate 4M "$T/random.lifeboat"
stop_relay
wait_idle
offset=$(session_offset)
if ! [[ $offset =~ ^[0-9]+$ ]] || [ "$offset" -eq 0 ]; then
	fail /delta/stray/setup "the cut full upload left no session: $offset; $(tail -n 3 "$T/up.err")"
fi
code=$(post_delta "$T/random.lifeboat")
if [ "$code $(resp .error.code) $(resp .error.target)" != "409 no-plan untouched" ]; then
	fail /delta/stray/no-plan "HTTP $code $(cat "$T/resp.json")"
elif [ "$(session_offset)" != "$offset" ]; then
	fail /delta/stray/no-plan "the session of the cut full upload went: resume offset $offset, now $(session_offset)"
else
	pass "/delta/stray/no-plan ($(resp .error.message))"
fi
# a plan for another bundle than the body's: refused by the installer, before main is written
ask_plan "$T/v2.lifeboat" >/dev/null
code=$(post_delta "$T/random.lifeboat")
if [ "$code $(resp .error.code) $(resp .error.target)" != "409 no-plan untouched" ]; then
	fail /delta/stray/other-plan "HTTP $code $(cat "$T/resp.json")"
elif [ "$(session_offset)" != "$offset" ]; then
	fail /delta/stray/other-plan "the session of the cut full upload went: resume offset $offset, now $(session_offset)"
else
	pass /delta/stray/other-plan
fi
if ! upload --full "$T/random.lifeboat"; then
	fail /delta/stray/full-resumes "exit $?: $(tail -n 3 "$T/up.err")"
elif ! grep -q "resuming the full upload at byte $offset" "$T/up.err"; then
	fail /delta/stray/full-resumes "not resumed at byte $offset: $(cat "$T/up.err")"
else
	main_holds "/delta/stray/full-resumes (at byte $offset of $RANDOM_SIZE)" "$T/random.img"
fi

# ---- main rewritten by another install: the plan made before it is gone ----
# delta_numbers: the delta fields of the status, "delta send_total bundle_total reused copied copy_total"
delta_numbers() { status_field '.progress | "\(.delta) \(.send_total) \(.bundle_total) \(.reused) \(.copied) \(.copy_total)"'; }
install_v1 || fail /delta/setup "v1 again"
ask_plan "$T/v2.lifeboat" >/dev/null
delta_body "$T/v2.lifeboat" "$T/body"
install_v1 || fail /delta/setup "v1 again"
code=$(post_delta "$T/body")
check /delta/full-upload/plan-discarded test "$code $(resp .error.code) $(boot_order)" = "409 no-plan main recovery"
# the same after `lifeboat install FILE` on the device, with the recovery's configuration
ask_plan "$T/v2.lifeboat" >/dev/null
"$LB" install --config "$STATE/lifeboat.conf" "$T/v1.lifeboat" >"$T/cli.out" 2>&1 || fail /delta/setup "lifeboat install v1: $(tail -n 2 "$T/cli.out")"
code=$(post_delta "$T/body")
check /delta/cli-install/plan-discarded test "$code $(resp .error.code) $(boot_order)" = "409 no-plan main recovery"

# A delta is always read back, even on a device told to skip the read-back (the chunks it
# found in place on main were never written: only the read-back proves them), and its answer
# says so; a full upload there answers that it skipped it.
stop_server
start_server "$MAIN" --boot-backend grub --boot-env "$T/grubenv" --no-readback || { fail /delta/setup "the server did not restart"; exit 1; }
install_v1 || fail /delta/setup "v1 again"
check /delta/no-readback/full-says-skipped test "$(resp .readback)" = false
ask_plan "$T/v2.lifeboat" >/dev/null
delta_body "$T/v2.lifeboat" "$T/body"
code=$(post_delta "$T/body")
check /delta/no-readback/delta-read-back test "$code $(resp .readback)" = "200 true"
install_v1 || fail /delta/setup "v1 again"

# A pull (POST /api/install-from-url) from a local nginx, after a delta install: the status
# shows none of the delta's numbers, and the plan asked for before the pull is gone.
if ! command -v nginx >/dev/null; then
	skip /delta/pull "nginx is not installed (scripts/install-deps)"
	exit 0
fi
mkdir -p "$T/www"
cp "$T/random.lifeboat" "$T/www/"
HTTP_PORT=$(free_port)
nginx_start "http://127.0.0.1:$HTTP_PORT/random.lifeboat" "server { listen 127.0.0.1:$HTTP_PORT; root $T/www; }" 2>"$T/nginx.err" ||
	{ fail /delta/setup "$(cat "$T/nginx.err")"; exit 1; }
HTTP=http://127.0.0.1:$HTTP_PORT
post_url() { curl -sS -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "{\"url\":\"$1\"}" "$URL/api/install-from-url"; }

upload "$T/v2.lifeboat" || fail /delta/pull/setup "the delta install of v2: $(tail -n 3 "$T/up.err")"
read -r is_delta send_total bundle_total reused copied copy_total < <(delta_numbers)
if [ "$is_delta" != true ] || [ "$bundle_total" != "$V2_SIZE" ] || [ "$reused" -eq 0 ] ||
	[ "$copy_total" -eq 0 ] || [ "$copied" != "$copy_total" ] || [ "$send_total" -ge "$V2_SIZE" ]; then
	fail /delta/pull/setup "the status does not show the delta install of v2: $(delta_numbers)"
fi
# a plan back to v1 (chunks to copy and in place), its body kept for after the pull
ask_plan "$T/v1.lifeboat" >/dev/null
delta_body "$T/v1.lifeboat" "$T/body-v1"
code=$(post_url "$HTTP/missing.lifeboat")
if [ "$code" = 200 ] || [ "$(delta_numbers)" != "false 0 0 0 0 0" ]; then
	fail /delta/pull/failed-status "HTTP $code; the status after a failed pull shows a delta: $(delta_numbers)"
else
	pass "/delta/pull/failed-status (HTTP $code $(resp .error.code))"
fi
code=$(post_url "$HTTP/random.lifeboat")
if [ "$code $(resp .result)" != "200 installed" ]; then
	fail /delta/pull/installed "HTTP $code $(cat "$T/resp.json")"
elif [ "$(delta_numbers)" != "false 0 0 0 0 0" ]; then
	fail /delta/pull/status "the status after a pull shows a delta: $(delta_numbers)"
else
	main_holds /delta/pull/installed "$T/random.img"
	pass /delta/pull/status
fi
before=$(digest "$MAIN")
code=$(post_delta "$T/body-v1")
if [ "$code $(resp .error.code) $(resp .error.target)" != "409 no-plan untouched" ]; then
	fail /delta/pull/plan-discarded "HTTP $code $(cat "$T/resp.json")"
elif [ "$(digest "$MAIN")" != "$before" ] || [ "$(boot_order)" != "main recovery" ]; then
	fail /delta/pull/plan-discarded "main touched: order $(boot_order)"
else
	pass "/delta/pull/plan-discarded ($(resp .error.message))"
fi
# a cut whole upload's session goes too: the pull overwrote the chunks it recorded
cut_relay $((V2_SIZE / 2)) 1
UPLOAD_URL=$RELAY_URL upload --full --tries 1 --limit-rate 4M "$T/v2.lifeboat"
stop_relay
wait_idle
offset=$(session_offset)
code=$(post_url "$HTTP/random.lifeboat")
if ! [[ $offset =~ ^[0-9]+$ ]]; then
	fail /delta/pull/session-discarded "the cut upload left no session: $offset; $(tail -n 3 "$T/up.err")"
elif [ "$code $(resp .result)" != "200 installed" ] || [ "$(session_offset)" != none ]; then
	fail /delta/pull/session-discarded "HTTP $code; the session after the pull: $(curl -sS "$URL/api/session")"
else
	pass "/delta/pull/session-discarded (it resumed at byte $offset)"
fi
