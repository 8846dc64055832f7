# Pulls from a URL against a real nginx on 127.0.0.1 (its configuration written here, run in the
# foreground, no root paths): `lifeboat install URL` over http and https (a test CA), through a
# relay that cuts the connection mid-transfer (tests/cut-relay.c) so that the pull resumes by
# Range, and the errors: a server that ignores Range, a file replaced mid-way, 404, a refused
# connection, an untrusted certificate, an https to http redirect, a bundle with an unknown key.
# Then the request and result files of `reboot-recovery --install` and `install --request`, and
# POST /api/install-from-url through the real lighttpd.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; cleanup' EXIT

command -v nginx >/dev/null || { skip /pull "nginx is not installed (scripts/install-deps)"; exit 0; }

ensure_users
make_keys
make_image "$T/image" 16
mkdir -p "$T/www" "$T/data" "$T/state" "$T/log"
make_bundle "$T/www/good.lifeboat" "$T/image"
make_bundle "$T/www/other-key.lifeboat" "$T/image" --key "$T/keys/other.pem"
make_bundle "$T/v2.lifeboat" "$T/image" --version 2.0
mkdir -p "$T/www/norange"
cp "$T/www/good.lifeboat" "$T/www/norange/good.lifeboat"
cp "$T/www/good.lifeboat" "$T/www/changing.lifeboat"
size=$(size_of "$T/www/good.lifeboat")

# A test CA and a server certificate for 127.0.0.1 (an IP SAN, as the client checks).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj /CN=lifeboat-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/server.key" -out "$T/server.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/san.ext" -out "$T/server.pem" 2>/dev/null

HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
nginx_start "http://127.0.0.1:$HTTP_PORT/good.lifeboat" "
	server {
		listen 127.0.0.1:$HTTP_PORT;
		root $T/www;
		location /norange/ { max_ranges 0; }
		location = /moved { return 302 /good.lifeboat; }
	}
	server {
		listen 127.0.0.1:$HTTPS_PORT ssl;
		ssl_certificate $T/server.pem;
		ssl_certificate_key $T/server.key;
		root $T/www;
		location = /down { return 302 http://127.0.0.1:$HTTP_PORT/good.lifeboat; }
	}" 2>"$T/nginx.err" || { fail /pull/setup "$(cat "$T/nginx.err")"; exit 1; }
HTTP=http://127.0.0.1:$HTTP_PORT
HTTPS=https://127.0.0.1:$HTTPS_PORT

# relay CUT_BYTES CUTS [COMMAND]: a cutting relay in front of nginx's http port; its URL base
# goes to $RELAY.
relay() {
	cut_relay_start "$HTTP_PORT" "$@" 2>"$T/relay.err" || { fail /pull/setup "$(cat "$T/relay.err")"; exit 1; }
	RELAY=http://127.0.0.1:$RELAY_PORT
}
# The device: a file target, GRUB's environment for boot control, the pull directory.
truncate -s 32M "$T/main.img"
grub-editenv "$T/grubenv" create
grub-editenv "$T/grubenv" set LB_ORDER="main recovery" LB_main_LEFT=3
printf '#!/bin/sh\necho "$1" >>%s/reboots\n' "$T" >"$T/record-reboot"
chmod 755 "$T/record-reboot"
cat >"$T/lifeboat.conf" <<CONF
compatible = test-board
keyring = $T/keyring
target.rootfs = $T/main.img
state-dir = $T/state
log-file = $T/log/lifeboat.log
pull-dir = $T/data/lifeboat
reboot-command = $T/record-reboot
boot-backend = grub
boot-env = $T/grubenv
CONF
LOG=$T/log/lifeboat.log
hash_main() { sha256sum "$T/main.img" | cut -d' ' -f1; }
main_holds_image() { cmp -s -n $((16 << 20)) "$T/image" "$T/main.img"; }
main_gets_image() { dd if="$T/image" of="$T/main.img" conv=notrunc status=none; }
main_zeroed() { dd if=/dev/zero of="$T/main.img" bs=1M count=16 conv=notrunc status=none; }
result_field() { sed -n "s/^$1=//p" "$T/data/lifeboat/install-result"; }
pull() { "$LB" install --config "$T/lifeboat.conf" "$@" >"$T/out" 2>"$T/err"; }

# --- good pulls ---
start=$(date +%s.%N)
if pull "$HTTP/good.lifeboat" && main_holds_image && [ "$(result_field result)" = installed ] &&
	[ "$(result_field version)" = 1.0 ] && [ "$(result_field bundle_size)" = "$size" ]; then
	pass "/pull/http/ok ($size bytes in $(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)") s)"
else
	fail /pull/http/ok "$(cat "$T/err" "$T/out" | tail -3 | tr '\n' ' ')"
fi
check /pull/http/state-file grep -qx 'state=done' "$T/state/status"
check /pull/http/boot-activated sh -c "grub-editenv $T/grubenv list | grep -qx 'LB_ORDER=main recovery'"

main_zeroed
if pull --ca "$T/ca.pem" "$HTTPS/good.lifeboat" && main_holds_image; then pass /pull/https/ok; else
	fail /pull/https/ok "$(tail -3 "$T/err" | tr '\n' ' ')"; fi

main_zeroed
if pull "$HTTP/moved" && main_holds_image; then pass /pull/http/redirect; else
	fail /pull/http/redirect "$(tail -3 "$T/err" | tr '\n' ' ')"; fi

# --- a server that drops the connection mid-transfer, three times ---
main_zeroed
: >"$LOG"
relay 700000 3
if pull "$RELAY/good.lifeboat" && main_holds_image; then
	resumed=$(grep -c 'resumed at byte' "$LOG")
	if [ "$resumed" = 3 ] && [ "$(result_field reconnects)" = 3 ] && [ "$(grep -c 'cut connection' "$T/relay.log")" = 3 ]; then
		pass "/pull/resume/three-drops (3 reconnects by Range, $size bytes)"
	else
		fail /pull/resume/three-drops "resumed $resumed times: $(grep -E 'dropped|resumed' "$LOG" | tr '\n' ' ')"
	fi
else
	fail /pull/resume/three-drops "$(tail -3 "$T/err" | tr '\n' ' ')"
fi
check /pull/resume/reconnects-on-stderr grep -q 'reconnect 3 of at most 10' "$T/err"
kill "$RELAY_PID" 2>/dev/null

# --- delta: main holds most of the new image, only the rest is fetched, by Range ---
# image-b: the same file system with 128 KiB rewritten in its middle; main holds image (put
# there, whatever the pulls above did).
main_gets_image
cp "$T/image" "$T/image-b"
head -c $((128 << 10)) /dev/urandom | dd of="$T/image-b" bs=64K seek=144 conv=notrunc status=none
make_bundle "$T/www/b.lifeboat" "$T/image-b" --version 3.0 --chunk-size 64K
bsize=$(size_of "$T/www/b.lifeboat")
: >"$LOG"
: >"$T/nginx/access.log"
if pull "$HTTP/b.lifeboat" && cmp -s -n $((16 << 20)) "$T/image-b" "$T/main.img"; then
	pulled=$(result_field bundle_size)
	ranges=$(grep -c '" 206 ' "$T/nginx/access.log")
	if [ "$pulled" -lt $((bsize / 4)) ] && [ "$ranges" -ge 1 ] && grep -q 'delta: main holds' "$LOG"; then
		pass "/pull/delta/ok ($pulled of $bsize bytes pulled in $ranges range requests)"
	else
		fail /pull/delta/ok "pulled $pulled of $bsize, $ranges range requests: $(grep delta "$LOG")"
	fi
else
	fail /pull/delta/ok "$(tail -3 "$T/err" | tr '\n' ' ')"
fi
check /pull/delta/boot-activated sh -c "grub-editenv $T/grubenv list | grep -qx 'LB_ORDER=main recovery'"
# The same again with main holding the first image, through a relay that cuts the first range
# range request 60 KB in (the first connection, the whole file, is left after the header): the
# piece resumes by Range where it broke.
main_gets_image
: >"$LOG"
relay 60000 2
if pull "$RELAY/b.lifeboat" && cmp -s -n $((16 << 20)) "$T/image-b" "$T/main.img" &&
	grep -q 'delta: main holds' "$LOG" && [ "$(result_field reconnects)" -ge 1 ]; then
	pass "/pull/delta/resumed ($(result_field reconnects) reconnects, $(result_field bundle_size) bytes pulled)"
else
	fail /pull/delta/resumed "$(tail -3 "$T/err" | tr '\n' ' ') $(grep -E 'delta|resumed' "$LOG" | tr '\n' ' ')"
fi
kill "$RELAY_PID" 2>/dev/null
# --whole: the whole bundle although main holds all of it.
if pull --whole "$HTTP/b.lifeboat" && [ "$(result_field bundle_size)" = "$bsize" ]; then pass /pull/delta/whole; else
	fail /pull/delta/whole "pulled $(result_field bundle_size) of $bsize: $(tail -2 "$T/err" | tr '\n' ' ')"; fi
# The errors below need a whole download: main holds nothing of the bundle.
main_zeroed

# expect_fail NAME WANT_CODE MESSAGE_PATTERN WANT_TARGET ARGS...: the pull fails with that exit
# code (an error name), says what is wrong, and leaves main as reported.
expect_fail() {
	local name=$1 code=$2 pattern=$3 target=$4 before rc
	shift 4
	before=$(hash_main)
	pull "$@"
	rc=$?
	if [ "$rc" != "$(code_number "$code")" ]; then
		fail "$name" "exit $rc, expected $code: $(tail -2 "$T/err" | tr '\n' ' ')"
	elif ! grep -q -- "$pattern" "$T/err"; then
		fail "$name" "message: $(tail -2 "$T/err" | tr '\n' ' ')"
	elif [ "$target" = untouched ] && [ "$(hash_main)" != "$before" ]; then
		fail "$name" "main changed although nothing should have been written"
	elif [ "$(result_field result)" != failed ] || [ "$(result_field code)" != "$code" ]; then
		fail "$name" "the result file says $(result_field result) $(result_field code)"
	else
		pass "$name"
	fi
}
relay 700000 1
expect_fail /pull/error/server-ignores-range read-failed 'ignores range requests' invalid "$RELAY/norange/good.lifeboat"
relay 700000 1 "cp $T/v2.lifeboat $T/www/changing.lifeboat && touch -d 2001-01-01 $T/www/changing.lifeboat"
expect_fail /pull/error/file-changed read-failed 'changed during the download' invalid "$RELAY/changing.lifeboat"
pull "$HTTP/good.lifeboat" # main whole again: the errors below must leave it so
expect_fail /pull/error/404 read-failed 'HTTP 404' untouched "$HTTP/missing.lifeboat"
expect_fail /pull/error/refused read-failed 'cannot connect to 127.0.0.1' untouched "http://127.0.0.1:$(free_port)/good.lifeboat"
expect_fail /pull/error/untrusted-certificate read-failed 'not trusted' untouched "$HTTPS/good.lifeboat"
expect_fail /pull/error/https-to-http read-failed 'https to plain http' untouched --ca "$T/ca.pem" "$HTTPS/down"
expect_fail /pull/error/unknown-key unknown-key 'key' untouched "$HTTP/other-key.lifeboat"
expect_fail /pull/error/bad-scheme usage 'not an http:// or https:// URL' untouched "ftp://127.0.0.1/good.lifeboat"
check /pull/error/main-still-bootable sh -c "grub-editenv $T/grubenv list | grep -qx 'LB_ORDER=main recovery'"

# --- main asks, the recovery pulls at its next boot ---
rm -f "$T/reboots"
if "$LB" reboot-recovery --config "$T/lifeboat.conf" --no-reboot --install "$HTTP/good.lifeboat" >"$T/out" 2>&1 &&
	grep -qx "url=$HTTP/good.lifeboat" "$T/data/lifeboat/install-request" &&
	grub-editenv "$T/grubenv" list | grep -qx 'LB_ONESHOT=recovery'; then
	pass /pull/request/written
else
	fail /pull/request/written "$(cat "$T/out")"
fi
check /pull/request/bad-url-refused sh -c "! $LB reboot-recovery --config $T/lifeboat.conf --no-reboot --install 'ftp://x/y' 2>&1 | grep -q 'not an http'; test \$? = 1"
main_zeroed
if "$LB" install --config "$T/lifeboat.conf" --request >"$T/out" 2>&1 && main_holds_image &&
	[ ! -e "$T/data/lifeboat/install-request" ] && [ -e "$T/data/lifeboat/install-request.taken" ] &&
	[ "$(result_field result)" = installed ] && grep -qx main "$T/reboots" 2>/dev/null; then
	pass /pull/request/installed-and-rebooted
else
	fail /pull/request/installed-and-rebooted "$(tail -3 "$T/out" | tr '\n' ' ') reboots: $(cat "$T/reboots" 2>/dev/null)"
fi
check /pull/request/status-shows-result sh -c "$LB status --config $T/lifeboat.conf | grep -q 'last pull:     installed version 1.0'"
check /pull/request/status-json test "$("$LB" status --config "$T/lifeboat.conf" --json | jq -r '.last_pull.result + " " + .last_pull.url')" = "installed $HTTP/good.lifeboat"
check /pull/request/none-is-fine sh -c "$LB install --config $T/lifeboat.conf --request | grep -q 'no install request'"
# A failure before anything was written: main is intact and bootable, so back to it.
rm -f "$T/reboots"
"$LB" reboot-recovery --config "$T/lifeboat.conf" --no-reboot --install "$HTTP/missing.lifeboat" >/dev/null
before=$(hash_main)
"$LB" install --config "$T/lifeboat.conf" --request >"$T/out" 2>&1
if [ "$(result_field result) $(result_field code) $(result_field target_touched)" = "failed read-failed 0" ] &&
	[ "$(hash_main)" = "$before" ] && grep -qx main "$T/reboots" 2>/dev/null; then
	pass /pull/request/failed-untouched-back-to-main
else
	fail /pull/request/failed-untouched-back-to-main "$(cat "$T/data/lifeboat/install-result" | tr '\n' ' ') reboots: $(cat "$T/reboots" 2>/dev/null)"
fi
# A failure after writing began: main is out of the boot order, the recovery stays. (Main holds
# nothing of the bundle, so the whole of it is downloaded, through a server that cannot resume.)
rm -f "$T/reboots"
main_zeroed
relay 700000 1
"$LB" reboot-recovery --config "$T/lifeboat.conf" --no-reboot --install "$RELAY/norange/good.lifeboat" >/dev/null
"$LB" install --config "$T/lifeboat.conf" --request >"$T/out" 2>&1
if [ "$(result_field result) $(result_field target_touched)" = "failed 1" ] && [ ! -e "$T/reboots" ]; then
	pass /pull/request/failed-written-stays
else
	fail /pull/request/failed-written-stays "$(cat "$T/data/lifeboat/install-result" | tr '\n' ' ') reboots: $(cat "$T/reboots" 2>/dev/null)"
fi
check /pull/request/status-shows-failure sh -c "$LB status --config $T/lifeboat.conf | grep -q 'last pull:     failed version 1.0 (read-failed'"

# --- POST /api/install-from-url through the real lighttpd, as the unprivileged web user ---
grant_main "$T/main.img"
start_server "$T/main.img" || { fail /pull/api/setup "the server did not start"; exit 1; }
post_url() { curl -sS -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "{\"url\":\"$1\"}" "${@:2}" "$URL/api/install-from-url"; }
main_zeroed
code=$(post_url "$HTTP/good.lifeboat")
if [ "$code" = 200 ] && [ "$(resp .result)" = installed ] && main_holds_image; then pass /pull/api/ok; else
	fail /pull/api/ok "HTTP $code $(cat "$T/resp.json")"; fi
check /pull/api/status-done test "$(status_field '.state + " " + .main.version')" = "done 1.0"
code=$(post_url "$HTTP/missing.lifeboat")
if [ "$code" = 502 ] && [ "$(resp .error.code)" = read-failed ] && [ "$(resp .error.target)" = untouched ] &&
	resp .error.message | grep -q 'HTTP 404'; then pass /pull/api/404; else
	fail /pull/api/404 "HTTP $code $(cat "$T/resp.json")"; fi
check /pull/api/cross-origin-403 test "$(post_url "$HTTP/good.lifeboat" -H 'Origin: http://evil.example')" = 403
check /pull/api/bad-body-400 test "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"uri":"x"}' "$URL/api/install-from-url")" = 400
check /pull/api/bad-scheme-400 test "$(post_url "file:///etc/passwd")" = 400
# 409 while another pull runs: one slowed by two drops (waits of 0.5 and 1 s between them), of
# the whole bundle (main holds nothing of it).
main_zeroed
relay 700000 2
post_url "$RELAY/good.lifeboat" >"$T/first.code" &
first=$!
wait_until 10 install_running
code=$(curl -sS -o "$T/busy.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "{\"url\":\"$HTTP/good.lifeboat\"}" "$URL/api/install-from-url")
wait "$first"
if [ "$code" = 409 ] && [ "$(jq -r .error.code "$T/busy.json")" = busy ] && [ "$(cat "$T/first.code")" = 200 ] &&
	[ "$(resp .reconnects)" = 2 ]; then
	pass /pull/api/409-while-pulling
else
	fail /pull/api/409-while-pulling "second HTTP $code $(cat "$T/busy.json"); first $(cat "$T/first.code") $(cat "$T/resp.json")"
fi
