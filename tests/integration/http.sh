# The recovery web appliance over real HTTP: lighttpd on 127.0.0.1 running the CGI programs as an
# unprivileged user, installing onto a real loop device.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; chown root:disk "$MAIN" 2>/dev/null; cleanup' EXIT

ensure_users
make_keys
make_image "$T/image" 16
make_bundle "$T/good.lifeboat" "$T/image"
# The reboot command runs as the web user: it records into the state directory, which is theirs.
printf '#!/bin/sh\necho "$1" >>%s/state/reboots\n' "$T" >"$T/record-reboot"
chmod 755 "$T/record-reboot"

# Three loop devices, as on a card: recovery and data stay root's, main goes to the main group.
truncate -s 32M "$T/main.img" "$T/recovery.img" "$T/data.img"
MAIN=$(loop_attach "$T/main.img")
RECOVERY=$(loop_attach "$T/recovery.img")
DATA=$(loop_attach "$T/data.img")
# Device nodes outlive their loop devices: set every node's owner explicitly, as udev would.
chown root:disk "$RECOVERY" "$DATA" && chmod 0660 "$RECOVERY" "$DATA"
grant_main "$MAIN"
# Boot control through GRUB's environment block, as on an x86 device.
grub-editenv "$T/grubenv" create
printf 'boot-env = %s\n' "$T/grubenv" >"$T/grant-boot.conf"
"$ROOT/overlay/usr/lib/lifeboat/grant-targets" "$T/grant-boot.conf" "$MAIN_GROUP" >/dev/null
start_server "$MAIN" --boot-backend grub --boot-env "$T/grubenv" || { fail /http/setup "the server did not start"; exit 1; }
grubenv() { grub-editenv "$T/grubenv" list; }
hash_main() { sha256sum "$MAIN" | cut -d' ' -f1; }

# --- reading ---
check /http/status/idle test "$(status_field .state)" = idle
check /http/info/compatible test "$(curl -sS "$URL/api/info" | jq -r '.compatible + " " + (.keys | length | tostring)')" = "test-board 1"
check /http/page/served sh -c "curl -sS -D - '$URL/' | grep -qi 'x-frame-options: DENY'"
check /http/install/get-refused test "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/api/install")" = 405

# --- privileges: the CGI user may write main, and neither recovery nor data ---
check /http/privilege/main-writable runuser -u "$WEB_USER" -- dd if=/dev/zero of="$MAIN" bs=4096 count=1 conv=notrunc status=none
check /http/privilege/recovery-refused sh -c "! runuser -u $WEB_USER -- dd if=/dev/zero of=$RECOVERY bs=4096 count=1 conv=notrunc status=none 2>/dev/null"
check /http/privilege/data-refused sh -c "! runuser -u $WEB_USER -- dd if=/dev/zero of=$DATA bs=4096 count=1 conv=notrunc status=none 2>/dev/null"

# --- a good upload ---
code=$(post_bundle "$T/good.lifeboat")
if [ "$code" = 200 ] && [ "$(resp .result)" = installed ] && cmp -s -n $((16 << 20)) "$T/image" "$MAIN"; then
	pass /http/install/ok
else
	fail /http/install/ok "HTTP $code $(cat "$T/resp.json")"
fi
check /http/boot/activated-after-install sh -c "grub-editenv $T/grubenv list | grep -qx 'LB_ORDER=main recovery' && grub-editenv $T/grubenv list | grep -qx 'LB_main_LEFT=3'"
check /http/boot/status-shows-order test "$(status_field '.boot.order[0].slot + " " + (.boot.order[0].attempts_left | tostring)')" = "main 3"
check /http/privilege/cgi-not-root test "$(stat -c %U "$T/state/status")" = "$WEB_USER"
check /http/status/done test "$(status_field '.state + " " + .main.state + " " + .main.version')" = "done valid 1.0"

# --- multipart, as a form without JavaScript sends it ---
dd if=/dev/zero of="$MAIN" bs=1M count=16 status=none
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' -F "bundle=@$T/good.lifeboat" "$URL/api/install")
if [ "$code" = 200 ] && cmp -s -n $((16 << 20)) "$T/image" "$MAIN"; then pass /http/install/multipart; else
	fail /http/install/multipart "HTTP $code $(cat "$T/resp.json")"; fi

# --- bad bundles: status code, error code, target state ---
# expect_http NAME FILE HTTP_CODE ERROR_CODE TARGET_STATE
expect_http() {
	local name=$1 file=$2 want_http=$3 want_code=$4 want_target=$5 before code
	before=$(hash_main)
	code=$(post_bundle "$file")
	if [ "$code" != "$want_http" ] || [ "$(resp .error.code)" != "$want_code" ]; then
		fail "$name" "HTTP $code $(resp .error.code), expected $want_http $want_code"
	elif [ "$(resp .error.target)" != "$want_target" ]; then
		fail "$name" "target $(resp .error.target), expected $want_target"
	elif [ "$want_target" = untouched ] && [ "$(hash_main)" != "$before" ]; then
		fail "$name" "main changed although reported untouched"
	elif [ "$(status_field .last_result.code)" != "$want_code" ]; then
		fail "$name" "status does not record $want_code"
	else
		pass "$name"
	fi
}
size=$(stat -c %s "$T/good.lifeboat")
head -c 5000 /dev/urandom >"$T/random.bin"
expect_http /http/bad/not-a-bundle "$T/random.bin" 400 not-a-bundle untouched
head -c $((size - 1)) "$T/good.lifeboat" >"$T/short.lifeboat"
# a file shorter or longer than its header says is refused before main is touched
expect_http /http/bad/truncated "$T/short.lifeboat" 400 truncated untouched
cp "$T/good.lifeboat" "$T/flip.lifeboat"
printf 'X' | dd of="$T/flip.lifeboat" bs=1 seek=40 conv=notrunc status=none
expect_http /http/bad/manifest-bit "$T/flip.lifeboat" 403 bad-signature untouched
cp "$T/good.lifeboat" "$T/flip.lifeboat"
printf '\x55' | dd of="$T/flip.lifeboat" bs=1 seek=$((size - 100)) conv=notrunc status=none
expect_http /http/bad/chunk-bit "$T/flip.lifeboat" 400 chunk-corrupt invalid
check /http/boot/main-out-after-failed-install sh -c "grub-editenv $T/grubenv list | grep -qx 'LB_ORDER=recovery'"
"$LBB" create --unsigned --compatible test-board --version 1.0 --image rootfs="$T/image" -o "$T/unsigned.lifeboat"
expect_http /http/bad/unsigned "$T/unsigned.lifeboat" 403 unsigned untouched
"$LBB" create --key "$T/keys/other.pem" --compatible test-board --version 1.0 --image rootfs="$T/image" -o "$T/other.lifeboat"
expect_http /http/bad/unknown-key "$T/other.lifeboat" 403 unknown-key untouched
make_bundle "$T/wrongboard.lifeboat" "$T/image" --compatible other-board 2>/dev/null ||
	"$LBB" create --key "$T/keys/signing.pem" --compatible other-board --version 1.0 --image rootfs="$T/image" -o "$T/wrongboard.lifeboat"
expect_http /http/bad/incompatible "$T/wrongboard.lifeboat" 403 incompatible untouched
truncate -s 48M "$T/huge.img"
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 1.0 --image rootfs="$T/huge.img" -o "$T/huge.lifeboat"
expect_http /http/bad/too-large "$T/huge.lifeboat" 413 image-too-large untouched
cat "$T/good.lifeboat" <(echo extra) >"$T/trailing.lifeboat"
expect_http /http/bad/trailing "$T/trailing.lifeboat" 400 trailing-data untouched

# --- reboot ---
check /http/reboot/main-invalid-refused sh -c "test \"\$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{\"target\":\"main\"}' $URL/api/reboot)\" = 409"
post_bundle "$T/good.lifeboat" >/dev/null
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' -d '{"target": "main"}' "$URL/api/reboot")
wait_until 10 test -s "$T/state/reboots"
if [ "$code" = 202 ] && grep -qx main "$T/state/reboots" 2>/dev/null; then pass /http/reboot/main; else
	fail /http/reboot/main "HTTP $code, recorded: $(cat "$T/state/reboots" 2>/dev/null)"; fi
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' -d '{"target":"recovery"}' "$URL/api/reboot")
if [ "$code" = 202 ] && grubenv | grep -qx 'LB_ONESHOT=recovery'; then pass /http/reboot/recovery-oneshot; else
	fail /http/reboot/recovery-oneshot "HTTP $code; $(grubenv | tr '\n' ' ')"; fi
check /http/reboot/bad-body test "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"target":"elsewhere"}' "$URL/api/reboot")" = 400
check /http/reboot/text-plain-refused test "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -d '{"target":"main"}' "$URL/api/reboot")" = 415

# --- cross-site ---
check /http/cross-site/origin-refused test "$(post_bundle "$T/good.lifeboat" -H 'Origin: http://evil.example')" = 403
check /http/cross-site/fetch-site-refused test "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Sec-Fetch-Site: cross-site' -H 'Content-Type: application/json' -d '{"target":"main"}' "$URL/api/reboot")" = 403
check /http/cross-site/same-origin-ok test "$(post_bundle "$T/good.lifeboat" -H "Origin: http://127.0.0.1:$PORT")" = 200
check /http/install/text-plain-refused test "$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$T/good.lifeboat" -H 'Content-Type: text/plain' "$URL/api/install")" = 415

# --- one install at a time; a cut connection is recorded, and the next upload works ---
head -c 24M /dev/urandom >"$T/slow.img"
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 3.0 --level 1 --image rootfs="$T/slow.img" -o "$T/slow.lifeboat"
curl -sS -o /dev/null --limit-rate 4M --data-binary @"$T/slow.lifeboat" -H 'Content-Type: application/octet-stream' \
	"$URL/api/install" 2>/dev/null &
slow=$! # curl itself, so that killing it cuts the connection
wait_until 30 state_is writing
code=$(curl -sS -o "$T/busy.json" -w '%{http_code}' --data-binary @"$T/good.lifeboat" -H 'Content-Type: application/octet-stream' "$URL/api/install")
if [ "$code" = 409 ] && [ "$(jq -r .error.code "$T/busy.json")" = busy ] && jq -r .error.message "$T/busy.json" | grep -q 'version 3.0'; then
	pass /http/concurrent/409
else
	fail /http/concurrent/409 "HTTP $code $(cat "$T/busy.json")"
fi
progress_moving() { [ "$(status_field '.state + " " + (.progress.percent > 0 and .progress.percent < 100 | tostring)')" = 'writing true' ]; }
check /http/status/progress wait_until 10 progress_moving
# The body reaches the install CGI program through a pipe from lighttpd, widened to 1 MiB
# (lb_pipe_widen: fewer wakeups per byte, docs/web-appliance.md "Speed").
body_pipe_size() { python3 -c 'import fcntl, os, sys; print(fcntl.fcntl(os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK), fcntl.F_GETPIPE_SZ))' "/proc/$1/fd/0"; }
cgi=$(pgrep -P "$SERVER_PID" -x install)
check /http/install/body-pipe-widened test "$(body_pipe_size "$cgi")" = $((1 << 20))
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
wait_idle
msg=$(status_field .last_result.message)
if [ "$(status_field .state)" = failed ] && echo "$msg" | grep -Eq '^connection lost at [0-9]+ %.*upload again'; then
	pass /http/cut/recorded
else
	fail /http/cut/recorded "state $(status_field .state): $msg"
fi
check /http/cut/main-invalid test "$(status_field .main.state)" = invalid
code=$(post_bundle "$T/good.lifeboat")
if [ "$code" = 200 ] && cmp -s -n $((16 << 20)) "$T/image" "$MAIN"; then pass /http/cut/retry-succeeds; else
	fail /http/cut/retry-succeeds "HTTP $code $(cat "$T/resp.json")"; fi

check /http/log/records sh -c "curl -sS $URL/api/log | grep -q 'install failed (truncated'"
