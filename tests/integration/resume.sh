# Resumable uploads over real HTTP: lighttpd on 127.0.0.1 running the CGI programs as an
# unprivileged user onto a real loop device with GRUB boot control. Uploads are cut on the client
# side (a client that closes the connection after exactly N bytes) and on the server side (the
# install CGI killed with SIGTERM and SIGKILL), then resumed with curl -C from the offset GET
# /api/session gives, to a read-back-verified install. Main stays out of the boot order until the
# end. Wrong resumes are refused: another bundle, a tampered chunk, an offset beyond the session's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; chown root:disk "$MAIN" 2>/dev/null; cleanup' EXIT

ensure_users
make_keys
# Random data does not compress: the bundle is about as large as the image, and cut points
# fall where they are aimed. 1 MiB chunks, 16 of them.
random_file "$T/image" $((16 << 20))
make_bundle "$T/good.lifeboat" "$T/image" --level 1
random_file "$T/image2" $((16 << 20))
make_bundle "$T/other.lifeboat" "$T/image2" --level 1 --version 2.0
SIZE=$(size_of "$T/good.lifeboat")
HEADER=$(header_size "$T/good.lifeboat")
MANIFEST_SHA=$(head -c $((20 + $(be32 "$T/good.lifeboat" 12))) "$T/good.lifeboat" | tail -c +21 | digest /dev/stdin)

truncate -s 32M "$T/main.img"
MAIN=$(loop_attach "$T/main.img")
grant_main "$MAIN"
grub-editenv "$T/grubenv" create
printf 'boot-env = %s\n' "$T/grubenv" >"$T/grant-boot.conf"
"$ROOT/overlay/usr/lib/lifeboat/grant-targets" "$T/grant-boot.conf" "$MAIN_GROUP" >/dev/null
start_server "$MAIN" --boot-backend grub --boot-env "$T/grubenv" || { fail /resume/setup "the server did not start"; exit 1; }

boot_order() { grub-editenv "$T/grubenv" list | sed -n 's/^LB_ORDER=//p'; }
session_code() { curl -sS -o /dev/null -w '%{http_code}' "$URL/api/session"; }

# cut_upload FILE BYTES [FROM]: a client that announces the whole file (or, from byte FROM, the
# rest of it with a Content-Range, as a resume), sends BYTES of it and closes the connection, as
# a dropped link does. A cut one closes only once the install runs (10 s at most): BYTES that
# fit in the socket buffers may be sent before the install program starts, and the wait for its
# end would then see nothing running.
cut_upload() {
	python3 - "$PORT" "$1" "$2" "${3:-0}" <<'EOF'
import json, os, socket, sys, time, urllib.request
port, path, count, offset = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
size = os.path.getsize(path)
s = socket.create_connection(("127.0.0.1", port))
head = "POST /api/install HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/octet-stream\r\n" % port
if offset:
    head += "Content-Range: bytes %d-%d/%d\r\n" % (offset, size - 1, size)
s.sendall((head + "Content-Length: %d\r\n\r\n" % (size - offset)).encode())
with open(path, "rb") as f:
    f.seek(offset)
    left = count
    while left:
        b = f.read(min(left, 65536))
        s.sendall(b)
        left -= len(b)
deadline = time.monotonic() + 10
while offset + count < size and time.monotonic() < deadline:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=2) as r:
            if json.load(r).get("state") in ("receiving", "verifying", "writing"):
                break
    except (OSError, ValueError):
        pass
    time.sleep(0.05)
time.sleep(0.3)
s.close()
EOF
}

# resume_upload FILE [curl options...]: the rest of FILE from the session's resume offset, as
# docs/http-api.md tells curl users; the status code to stdout, the body in $T/resp.json and the
# bytes curl sent in $T/sent.
resume_upload() {
	local file=$1 offset etag
	shift
	offset=$(session_field .resume_offset)
	etag=$(session_field .manifest_sha256)
	rm -f "$T/resp.json" # -C resumes the download into -o as well: it must start empty
	curl -sS -o "$T/resp.json" -w '%{http_code} %{size_upload}' --upload-file "$file" -C "$offset" -X POST \
		-H 'Content-Type: application/octet-stream' -H "If-Match: \"$etag\"" "$@" "$URL/api/install" >"$T/curl.out"
	cut -d' ' -f2 "$T/curl.out" >"$T/sent"
	cut -d' ' -f1 "$T/curl.out"
}

# expect_resumed NAME: the session is there, a resume from its offset installs the bundle, only
# the missing part crossed the wire, main holds the image and is back in the boot order.
expect_resumed() {
	local name=$1 offset code
	if ! wait_idle; then fail "$name" "the cut install did not end"; return; fi
	if [ "$(boot_order)" != recovery ]; then fail "$name" "main is in the boot order after the cut: $(boot_order)"; return; fi
	offset=$(session_field .resume_offset)
	if [ "$(session_field .manifest_sha256)" != "$MANIFEST_SHA" ]; then
		fail "$name" "no session for the bundle: $(curl -sS "$URL/api/session")"; return
	fi
	code=$(resume_upload "$T/good.lifeboat")
	if [ "$code" != 200 ] || [ "$(resp .result)" != installed ]; then
		fail "$name" "resume from $offset: HTTP $code $(cat "$T/resp.json")"
	elif [ "$(cat "$T/sent")" != $((SIZE - offset)) ]; then
		fail "$name" "sent $(cat "$T/sent") bytes, expected $((SIZE - offset))"
	elif ! cmp -s -n $((16 << 20)) "$T/image" "$MAIN"; then
		fail "$name" "main differs from the image after resuming from $offset"
	elif [ "$(boot_order)" != "main recovery" ]; then
		fail "$name" "main not activated: $(boot_order)"
	elif [ "$(session_code)" != 404 ]; then
		fail "$name" "the session outlived the install"
	else
		pass "$name (resumed at $offset of $SIZE)"
	fi
}

# fresh_main: main zeroed and out of the boot order, as before a first install.
fresh_main() { dd if=/dev/zero of="$MAIN" bs=1M count=17 status=none; }

check /resume/none/404 test "$(session_code)" = 404
rm -f "$T/resp.json"
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$T/good.lifeboat" -C 1000 -X POST \
	-H 'Content-Type: application/octet-stream' "$URL/api/install")
check /resume/none/416 test "$code $(resp .error.code)" = "416 no-session"

# --- client-side cuts: in the header's wake, early, mid-way, in the last chunk ---
cut=1
for at in $((HEADER + 1500000)) $((SIZE / 2)) $((SIZE - 5000)); do
	fresh_main
	cut_upload "$T/good.lifeboat" "$at"
	wait_idle
	msg=$(status_field .last_result.message)
	check "/resume/client-cut-$cut/message" sh -c "echo '$msg' | grep -q 'resumes at'"
	# The session holds the written prefix: at most what arrived, and chunk-aligned.
	offset=$(session_field .resume_offset)
	check "/resume/client-cut-$cut/offset-bounded" test "$offset" -le "$at" -a "$offset" -ge "$HEADER"
	expect_resumed "/resume/client-cut-$cut"
	cut=$((cut + 1))
done

# --- one upload cut twice, resumed twice ---
fresh_main
cut_upload "$T/good.lifeboat" $((SIZE / 4))
wait_idle
first=$(session_field .resume_offset)
offset=$first
etag=$(session_field .manifest_sha256)
# the second attempt: the rest from the resume offset, itself cut after 4 MiB
cut_upload "$T/good.lifeboat" $((4 << 20)) "$offset"
wait_idle
second=$(session_field .resume_offset)
check /resume/twice/advanced test "$second" -gt "$first"
expect_resumed /resume/twice

# --- server-side: the install CGI stopped by lighttpd's SIGTERM, and killed outright ---
# slow_upload: the good bundle at 2 MB/s in the background; waits until the install writes.
third_written() { [ "$(status_field '.state + " " + (.progress.received > '$((SIZE / 3))' | tostring)')" = "writing true" ]; }
checkpoint_saved() { [ "$(session_field '.resume_offset // 0')" -gt "$HEADER" ]; }
slow_upload() {
	curl -sS -o /dev/null --limit-rate 2M --upload-file "$T/good.lifeboat" -X POST \
		-H 'Content-Type: application/octet-stream' "$URL/api/install" 2>/dev/null &
	SLOW=$!
	wait_until 30 third_written
}
for sig in TERM KILL; do
	fresh_main
	slow_upload || { fail "/resume/server-$sig" "the slow upload did not get going"; continue; }
	cgi=$(pgrep -P "$SERVER_PID" -x install)
	if [ -z "$cgi" ]; then fail "/resume/server-$sig" "no install process under lighttpd"; continue; fi
	# a killed process cannot record its last checkpoint: wait for a periodic one
	[ $sig = KILL ] && wait_until 10 checkpoint_saved
	kill -"$sig" "$cgi"
	wait "$SLOW" 2>/dev/null
	expect_resumed "/resume/server-$sig"
done

# --- the whole body arrived, the client left before the answer: the install completes ---
fresh_main
cut_upload "$T/good.lifeboat" "$SIZE"
wait_idle
if [ "$(status_field .last_result.result)" = installed ] && cmp -s -n $((16 << 20)) "$T/image" "$MAIN" &&
	[ "$(session_code)" = 404 ]; then
	pass /resume/client-left-after-last-byte
else
	fail /resume/client-left-after-last-byte "$(status_field .last_result.message)"
fi

# --- the device CLI continues a session a web upload left, with the server's configuration ---
fresh_main
cut_upload "$T/good.lifeboat" $((SIZE / 2))
wait_idle
offset=$(session_field .resume_offset)
if "$LB" install --config "$STATE/lifeboat.conf" --resume "$T/good.lifeboat" >"$T/cli.out" 2>"$T/cli.err" &&
	grep -q "resuming version 1.0 at [0-9]* % (byte $offset of $SIZE)" "$T/cli.err" &&
	cmp -s -n $((16 << 20)) "$T/image" "$MAIN" && [ "$(boot_order)" = "main recovery" ] && [ "$(session_code)" = 404 ]; then
	pass /resume/cli/continues-web-session
else
	fail /resume/cli/continues-web-session "$(cat "$T/cli.err") order $(boot_order)"
fi
# another bundle than the session's starts over (and installs)
fresh_main
cut_upload "$T/good.lifeboat" $((SIZE / 2))
wait_idle
"$LB" install --config "$STATE/lifeboat.conf" --resume "$T/other.lifeboat" >"$T/cli.out" 2>"$T/cli.err"
check /resume/cli/other-bundle-starts-over sh -c "! grep -q resuming '$T/cli.err' && cmp -s -n $((16 << 20)) '$T/image2' '$MAIN' && test \"\$(curl -sS -o /dev/null -w '%{http_code}' $URL/api/session)\" = 404"
check /resume/cli/stdin-refused sh -c "! '$LB' install --config '$STATE/lifeboat.conf' --resume - </dev/null 2>'$T/cli.err' && grep -q 'not from standard input' '$T/cli.err'"

# --- wrong resumes ---
[ "$(size_of "$T/other.lifeboat")" = "$SIZE" ] || echo "note: the other bundle has another size"
fresh_main
cut_upload "$T/good.lifeboat" $((SIZE / 2))
wait_idle
offset=$(session_field .resume_offset)
# beyond the session's offset
rm -f "$T/resp.json"
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$T/good.lifeboat" -C $((offset + 4096)) -X POST \
	-H 'Content-Type: application/octet-stream' "$URL/api/install")
check /resume/bad/beyond-416 sh -c "test '$code $(resp .error.code)' = '416 resume-offset' && echo '$(resp .error.message)' | grep -q -- '-C $offset'"
# a malformed Content-Range
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' --data-binary @"$T/image" -H 'Content-Range: bytes 5-/99' \
	-H 'Content-Type: application/octet-stream' "$URL/api/install")
check /resume/bad/content-range-400 test "$code $(resp .error.code)" = "400 bad-request"
# another bundle, named by If-Match: refused, the session stays
rm -f "$T/resp.json"
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$T/other.lifeboat" -C "$offset" -X POST \
	-H 'Content-Type: application/octet-stream' -H 'If-Match: "0000000000000000000000000000000000000000000000000000000000000000"' "$URL/api/install")
check /resume/bad/if-match-412 test "$code $(resp .error.code) $(session_field .resume_offset)" = "412 session-mismatch $offset"
# the page's question: is this header the session's?
head -c "$HEADER" "$T/good.lifeboat" >"$T/good.header"
head -c "$(header_size "$T/other.lifeboat")" "$T/other.lifeboat" >"$T/other.header"
ask() { curl -sS --data-binary @"$1" -H 'Content-Type: application/octet-stream' "$URL/api/session" | jq -r '.match'; }
check /resume/match/same-header test "$(ask "$T/good.header")" = true
check /resume/match/other-header test "$(ask "$T/other.header")" = false
# another bundle of the same size without If-Match: its first chunk fails the session's signed
# hashes; main stays out of the boot order and the session is gone
rm -f "$T/resp.json"
code=$(curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$T/other.lifeboat" -C "$offset" -X POST \
	-H 'Content-Type: application/octet-stream' "$URL/api/install")
if [ "$code $(resp .error.code)" = "400 chunk-corrupt" ] && [ "$(boot_order)" = recovery ] && [ "$(session_code)" = 404 ]; then
	pass /resume/bad/other-bundle
else
	fail /resume/bad/other-bundle "HTTP $code $(resp .error.code), order $(boot_order), session $(session_code)"
fi

# a tampered chunk in the resumed part: the chunk-hash error, no activation, no session
fresh_main
cut_upload "$T/good.lifeboat" $((SIZE / 2))
wait_idle
cp "$T/good.lifeboat" "$T/tampered.lifeboat"
flip_bit "$T/tampered.lifeboat" $((SIZE - 300000))
code=$(resume_upload "$T/tampered.lifeboat")
if [ "$code $(resp .error.code)" = "400 chunk-corrupt" ] && [ "$(boot_order)" = recovery ] &&
	[ "$(status_field .main.state)" = invalid ] && [ "$(session_code)" = 404 ]; then
	pass /resume/bad/tampered-chunk
else
	fail /resume/bad/tampered-chunk "HTTP $code $(resp .error.code), order $(boot_order), session $(session_code)"
fi

# --- a fresh upload discards the session ---
cut_upload "$T/good.lifeboat" $((SIZE / 2))
wait_idle
check /resume/fresh/session-before test "$(session_code)" = 200
head -c 5000 /dev/urandom >"$T/random.bin"
code=$(post_bundle "$T/random.bin")
check /resume/fresh/discards test "$code $(session_code)" = "400 404"
code=$(post_bundle "$T/good.lifeboat")
check /resume/fresh/installs sh -c "test '$code' = 200 && cmp -s -n $((16 << 20)) '$T/image' '$MAIN' && test '$(boot_order)' = 'main recovery'"
check /resume/log sh -c "curl -sS $URL/api/log | grep -q 'resumes version 1.0 at byte'"
