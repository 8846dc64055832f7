# A 1 GiB upload through the real lighttpd: nothing is staged in /tmp or /var/tmp, lighttpd's
# memory does not grow with the upload, and its spool (docs/web-appliance.md: lighttpd 1.4.69
# passes streamed bodies through short-lived files) stays bounded while 1 GiB flows through.
# Then the same 1 GiB over the WebSocket (the page's way) with lighttpd's spool made unwritable:
# it installs, so not one temporary file was needed (a POST in the same state fails: the check
# can fail), and lighttpd's RSS grows by at most 1 MiB.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http-lib.sh"
trap 'stop_server; cleanup' EXIT

ensure_users
make_keys
# 1 GiB of incompressible data, so that the upload really is 1 GiB.
head -c 1G /dev/urandom >"$T/big.img"
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 9.0 --level 1 \
	--image rootfs="$T/big.img" -o "$T/big.lifeboat"
truncate -s 1100M "$T/main.img"
grant_main "$T/main.img"
start_server "$T/main.img" --no-readback || { fail /http/large/setup "the server did not start"; exit 1; }
lpid=$(pgrep -u "$WEB_USER" -f "lighttpd -D -f $T/state" | head -1)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$lpid/status"; }

# sample OUT: until $T/done exists, the peaks of the spool's size and lighttpd's RSS into OUT.
sample() {
	local peak_spool=0 peak_rss=0 s r
	while [ ! -e "$T/done" ]; do
		s=$(du -sb "$T/state/spool" 2>/dev/null | cut -f1)
		r=$(rss)
		[ "${s:-0}" -gt $peak_spool ] && peak_spool=$s
		[ "${r:-0}" -gt $peak_rss ] && peak_rss=$r
		sleep 0.02
	done
	echo "$peak_spool $peak_rss" >"$1"
}
rss_before=$(rss)
touch "$T/started"

# Sample while the upload runs: the spool's size, lighttpd's RSS, files the web user creates in
# the usual temporary directories.
sample "$T/peaks" &
sampler=$!
t0=$(date +%s.%N)
code=$(post_bundle "$T/big.lifeboat")
t1=$(date +%s.%N)
touch "$T/done"
wait $sampler
read -r peak_spool peak_rss <"$T/peaks"
# (the state directory is in $T, under /tmp here; on the device it is /run/lifeboat)
stray=$(find /tmp /var/tmp -xdev -path "$T" -prune -o -newer "$T/started" -user "$WEB_USER" -print 2>/dev/null | head -3)

if [ "$code" = 200 ] && cmp -s -n $((1 << 30)) "$T/big.img" "$T/main.img"; then
	pass "/http/large/1gib-installed # POST, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 1073.7 / (b - a) }') MB/s"
else
	fail /http/large/1gib-installed "HTTP $code $(cat "$T/resp.json")"
fi
if [ -z "$stray" ]; then pass /http/large/no-temp-files-in-tmp; else
	fail /http/large/no-temp-files-in-tmp "$stray"; fi
if [ "$peak_spool" -le $((2 << 20)) ]; then pass "/http/large/spool-bounded # peak $((peak_spool / 1024)) KiB"; else
	fail /http/large/spool-bounded "the spool held $peak_spool bytes"; fi
growth=$((peak_rss - rss_before))
if [ $growth -le 1024 ]; then pass "/http/large/lighttpd-rss # ${rss_before} KiB, peak ${peak_rss} KiB"; else
	fail /http/large/lighttpd-rss "grew by $growth KiB (${rss_before} -> ${peak_rss})"; fi

# ---- the same over the WebSocket, with no spool to write to ----
command -v node >/dev/null || { skip /http/large/websocket "node is not installed (scripts/install-deps)"; exit 0; }
dd if=/dev/zero of="$T/main.img" bs=1M count=1024 conv=notrunc status=none
chmod 0 "$T/state/spool"
head -c 1M /dev/urandom >"$T/small.bin"
code=$(curl -sS -o /dev/null -w '%{http_code}' --upload-file "$T/small.bin" -X POST \
	-H 'Content-Type: application/octet-stream' "$URL/api/install")
check "/http/large/post-needs-the-spool # HTTP $code" test "$code" != 400 -a "$code" != 200
rss_before=$(rss)
rm -f "$T/done"
touch "$T/started"
sample "$T/peaks" &
sampler=$!
t0=$(date +%s.%N)
node "$ROOT/tests/ws-upload.js" "$URL" "$T/big.lifeboat" >"$T/ws.out" 2>"$T/ws.err"
rc=$?
t1=$(date +%s.%N)
touch "$T/done"
wait $sampler
read -r peak_spool peak_rss <"$T/peaks"
stray=$(find /tmp /var/tmp -xdev -path "$T" -prune -o -newer "$T/started" -user "$WEB_USER" -print 2>/dev/null | head -3)
chmod 0700 "$T/state/spool"
if [ $rc -eq 0 ] && [ "$(jq -r '"\(.status) \(.reply.result)"' "$T/ws.out")" = "200 installed" ] &&
	cmp -s -n $((1 << 30)) "$T/big.img" "$T/main.img"; then
	pass "/http/large/websocket-no-spool # $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 1073.7 / (b - a) }') MB/s with the spool unwritable"
else
	fail /http/large/websocket-no-spool "exit $rc: $(cat "$T/ws.out" "$T/ws.err" | tail -c 400)"
fi
if [ -z "$stray" ]; then pass /http/large/websocket-no-temp-files-in-tmp; else
	fail /http/large/websocket-no-temp-files-in-tmp "$stray"; fi
growth=$((peak_rss - rss_before))
if [ $growth -le 1024 ]; then pass "/http/large/websocket-lighttpd-rss # ${rss_before} KiB, peak ${peak_rss} KiB"; else
	fail /http/large/websocket-lighttpd-rss "grew by $growth KiB (${rss_before} -> ${peak_rss})"; fi
