# The WebSocket upload of /api/install (docs/http-api.md, "Uploading over a WebSocket") over real
# HTTP: lighttpd on 127.0.0.1 with cgi.upgrade, the CGI as an unprivileged user, a real loop
# device with GRUB boot control, and tests/ws-upload.js as the client. A whole upload installs
# and answers in one text message; refusals before the handshake are plain HTTP; a bundle of
# another size than announced, a non-bundle, more bytes than announced, a corrupt chunk and a bad
# or unknown signature are answered as the POST would be, main untouched where nothing was
# written; a resume's Content-Range or a form's type on the handshake is refused; a second upload
# while one runs is busy; a paused client that answers pings is waited for, a frozen one given up
# after 10 s; a client that goes away is a cut upload (failed, resumable) and the next upload
# works; POST still works after it all.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; [ -n "$HELD" ] && kill "$HELD" 2>/dev/null; chown root:disk "$MAIN" 2>/dev/null; cleanup' EXIT
HELD=""

command -v node >/dev/null || { skip /http-ws "node is not installed (scripts/install-deps)"; exit 0; }
WS="node $ROOT/tests/ws-upload.js"
ensure_users
make_keys
make_image "$T/image" 16
make_bundle "$T/good.lifeboat" "$T/image"
SIZE=$(size_of "$T/good.lifeboat")
truncate -s 32M "$T/main.img"
MAIN=$(loop_attach "$T/main.img")
grant_main "$MAIN"
grub-editenv "$T/grubenv" create
printf 'boot-env = %s\n' "$T/grubenv" >"$T/grant-boot.conf"
"$ROOT/overlay/usr/lib/lifeboat/grant-targets" "$T/grant-boot.conf" "$MAIN_GROUP" >/dev/null
start_server "$MAIN" --boot-backend grub --boot-env "$T/grubenv" || { fail /http-ws/setup "the server did not start"; exit 1; }
hash_main() { sha256sum "$MAIN" | cut -d' ' -f1; }
boot_order() { grub-editenv "$T/grubenv" list | sed -n 's/^LB_ORDER=//p'; }

# ws [options...] FILE: the upload; its stdout in $T/ws.out, its exit code returned.
ws() { $WS "$URL" "${@: -1}" "${@:1:$#-1}" >"$T/ws.out" 2>"$T/ws.err"; }
msg() { jq -r "$1" "$T/ws.out"; }

# --- a whole upload ---
ws --origin "$URL" "$T/good.lifeboat"
rc=$?
if [ $rc -ne 0 ] || [ "$(msg '"\(.status) \(.reply.result) \(.reply.version) \(.reply.bundle_size)"')" != "200 installed 1.0 $SIZE" ]; then
	fail /http-ws/install "exit $rc: $(cat "$T/ws.out" "$T/ws.err")"
elif ! cmp -s -n $((16 << 20)) "$T/image" "$MAIN"; then
	fail /http-ws/install "main differs from the image"
elif [ "$(boot_order)" != "main recovery" ] || [ "$(status_field '.state + " " + .main.version')" != "done 1.0" ]; then
	fail /http-ws/install "boot order $(boot_order), status $(status_field '.state + " " + .main.version')"
else
	pass /http-ws/install
fi
check /http-ws/logged sh -c "curl -sS $URL/api/log | grep -q 'WebSocket'"

# --- refused before the handshake: plain HTTP ---
before=$(hash_main)
ws --origin http://evil.example "$T/good.lifeboat"
check /http-ws/cross-site test "$? $(cut -d' ' -f1-2 "$T/ws.out") $(sed 's/^HTTP [0-9]* //' "$T/ws.out" | jq -r .error.code)" = "2 HTTP 403 cross-site"
ws --size 0 "$T/good.lifeboat"
check /http-ws/zero-size test "$? $(cut -d' ' -f1-2 "$T/ws.out")" = "2 HTTP 400"
# (tests/ws-upload.js always names a size: the handshake without one, by hand)
code=$(curl -sS -o "$T/nosize.json" -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$URL/api/install")
check /http-ws/no-size test "$code $(jq -r .error.code "$T/nosize.json")" = "400 bad-request"
# A resume's Content-Range or a form's body type on the socket: refused, nothing read as a bundle.
ws --header "Content-Range: bytes 1000-$((SIZE - 1))/$SIZE" "$T/good.lifeboat"
check /http-ws/no-content-range test "$(msg '"\(.status) \(.reply.error.message)"' | cut -c1-40)" = "400 a WebSocket upload is the whole bund"
ws --header "Content-Type: multipart/form-data; boundary=x" "$T/good.lifeboat"
check /http-ws/no-form test "$(msg '"\(.status) \(.reply.error.message)"' | cut -c1-40)" = "400 a WebSocket upload is the whole bund"
check /http-ws/refused-untouched test "$(hash_main)" = "$before"

# --- answered as the POST would be ---
# expect_ws NAME STATUS CODE TARGET [options...] FILE
expect_ws() {
	local name=$1 status=$2 code=$3 target=$4 before
	shift 4
	before=$(hash_main)
	ws "$@"
	local rc=$? got
	got=$(msg '"\(.status) \(.reply.error.code) \(.reply.error.target)"' 2>/dev/null)
	if [ $rc -ne 0 ] || [ "$got" != "$status $code $target" ]; then
		fail "$name" "exit $rc, got '$got', expected '$status $code $target': $(cat "$T/ws.out" "$T/ws.err")"
	elif [ "$target" = untouched ] && [ "$(hash_main)" != "$before" ]; then
		fail "$name" "main changed although reported untouched"
	elif [ "$(status_field .last_result.code)" != "$code" ]; then
		fail "$name" "the status records $(status_field .last_result.code)"
	else
		pass "$name ($(msg .reply.error.message | cut -c1-90))"
	fi
}
head -c 300000 /dev/urandom >"$T/random.bin"
expect_ws /http-ws/not-a-bundle 400 not-a-bundle untouched "$T/random.bin"
expect_ws /http-ws/announced-more 400 trailing-data untouched --size $((SIZE + 10)) "$T/good.lifeboat"
expect_ws /http-ws/announced-less 400 truncated untouched --size $((SIZE - 10)) "$T/good.lifeboat"
expect_ws /http-ws/more-than-announced 400 trailing-data invalid --size "$SIZE" --extra 5000 "$T/good.lifeboat"
cp "$T/good.lifeboat" "$T/flipped.lifeboat"
printf '\xff' | dd of="$T/flipped.lifeboat" bs=1 seek=$((SIZE - 100)) conv=notrunc status=none
expect_ws /http-ws/chunk-corrupt 400 chunk-corrupt invalid "$T/flipped.lifeboat"
cp "$T/good.lifeboat" "$T/flipped.lifeboat"
printf 'X' | dd of="$T/flipped.lifeboat" bs=1 seek=40 conv=notrunc status=none
expect_ws /http-ws/manifest-bit 403 bad-signature untouched "$T/flipped.lifeboat"
"$LBB" create --key "$T/keys/other.pem" --compatible test-board --version 1.0 --image rootfs="$T/image" -o "$T/other.lifeboat"
expect_ws /http-ws/unknown-key 403 unknown-key untouched "$T/other.lifeboat"

# --- one install at a time; a client that goes away ---
$WS "$URL" "$T/good.lifeboat" --pause-at $((SIZE / 2)) >"$T/held.out" 2>"$T/held.err" &
HELD=$!
wait_until 30 state_is writing
ws "$T/good.lifeboat"
if [ "$(msg '"\(.status) \(.reply.error.code)"')" = "409 busy" ]; then pass /http-ws/busy; else
	fail /http-ws/busy "$(cat "$T/ws.out" "$T/ws.err" "$T/held.err"; status_field '.state + ": " + .message')"; fi
# A client that holds its connection answers the pings and is waited for; one that stops
# answering (its process frozen: the socket stays open, as a closed browser tab's connection does
# in lighttpd) is given up after 10 s of silence, as a cut upload.
sleep 12
check /http-ws/paused-client-kept test "$(status_field .state)" = writing
kill -STOP "$HELD"
frozen_at=$(date +%s)
wait_until 90 install_ended
waited=$(($(date +%s) - frozen_at))
m=$(status_field .message)
case "$m" in
*"connection lost at"*"resumes at"*)
	if [ "$waited" -le 40 ]; then pass "/http-ws/silent-client-given-up # after $waited s: $m"
	else fail /http-ws/silent-client-given-up "only after $waited s"; fi ;;
*) fail /http-ws/silent-client-given-up "after $waited s: $(status_field '.state + ": " + .message')" ;;
esac
kill -CONT "$HELD"
kill "$HELD"
wait "$HELD" 2>/dev/null
HELD=""
check /http-ws/cut-session test "$(curl -sS "$URL/api/session" | jq -r .bundle_size)" = "$SIZE"
check /http-ws/cut-main-out-of-boot-order test "$(boot_order)" = recovery
# A client whose connection closes mid-upload is a cut too, noticed at once.
dd if=/dev/zero of="$MAIN" bs=1M count=16 status=none
ws "$T/good.lifeboat" --cut-at $((SIZE / 3))
wait_idle
case "$(status_field .message)" in
*"connection lost at"*) pass /http-ws/cut ;;
*) fail /http-ws/cut "status: $(status_field '.state + ": " + .message')" ;;
esac
ws "$T/good.lifeboat"
check /http-ws/retry-after-cut test "$(msg '"\(.status) \(.reply.result)"') $(boot_order)" = "200 installed main recovery"

# --- POST after it all ---
dd if=/dev/zero of="$MAIN" bs=1M count=16 status=none
code=$(post_bundle "$T/good.lifeboat")
check /http-ws/post-still-works sh -c "[ '$code' = 200 ] && cmp -s -n $((16 << 20)) '$T/image' '$MAIN'"
