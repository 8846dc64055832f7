# The recovery kiosk in a real terminal: tmux runs lifeboat-kiosk against a test state
# directory; the test rewrites the status file the way the install CGI does and reads the screen
# back with capture-pane. Keys go in with send-keys. The kiosk runs in a network namespace of its
# own with known addresses, so that the URLs it must show are known.
source "$(dirname "$0")/../lib.sh"

KIOSK=$ROOT/build/bin/lifeboat-kiosk
VERSION=$(cat "$ROOT/VERSION")
NS=lb-kiosk-$$
STATE=$T/state
if ! command -v tmux >/dev/null; then
	skip /kiosk/all "tmux is not installed (scripts/install-deps installs it)"
	exit 0
fi

# ---- fixtures ----

mkdir -p "$STATE"
grub-editenv "$T/grubenv" create
grub-editenv "$T/grubenv" set 'LB_ORDER=main recovery' LB_main_LEFT=3 LB_main_VERSION=1.0
printf '#!/bin/sh\necho "$1" >>%s/reboots\n' "$T" >"$T/record-reboot"
chmod 755 "$T/record-reboot"
cat >"$T/lifeboat.conf" <<CONF
state-dir = $STATE
log-file = $T/lifeboat.log
reboot-command = $T/record-reboot
boot-backend = grub
boot-env = $T/grubenv
boot-attempts = 3
CONF
echo 'BOOT_IMAGE=/boot/vmlinuz root=/dev/sda2 ro quiet lifeboat.reason=requested' >"$T/cmdline"
cat >"$T/lifeboat.log" <<'LOG'
2025-11-27T10:00:00Z install: install of version 1.9 started
2025-11-27T10:01:00Z install: install failed (truncated, main invalid): connection lost at 43 %: upload again
LOG

# status STATE [KEY=VALUE...]: the status file with every key in the order lb_state_save
# writes them, replaced atomically as it does.
status() {
	local -A v=([state]=$1 [received]=0 [bundle_size]=0 [written]=0 [readback]=0 [image_total]=0
		[mbps]=0.0 [eta_seconds]=-1 [started]=0 [last.time]=0 [main.state]=unknown
		[main.installed_at]=0 [updated]=$(date +%s))
	local kv k
	shift
	for kv; do v[${kv%%=*}]=${kv#*=}; done
	for k in state message bundle.version bundle.compatible received bundle_size written readback \
		image_total mbps eta_seconds started last.result last.code last.message last.time main.state \
		main.version main.compatible main.installed_at updated; do
		printf '%s=%s\n' "$k" "${v[$k]-}"
	done >"$STATE/status.tmp" && mv "$STATE/status.tmp" "$STATE/status"
}

# An install in progress holds the install lock; hold_lock takes it as the install CGI would.
LOCK_PID=
hold_lock() {
	(exec 9>"$STATE/install.lock" && flock -x 9 && exec sleep 600) &
	LOCK_PID=$!
	local i
	for i in $(seq 50); do flock -n "$STATE/install.lock" true || return 0; sleep 0.1; done
	return 1
}
release_lock() {
	[ -n "$LOCK_PID" ] && kill "$LOCK_PID" 2>/dev/null && wait "$LOCK_PID" 2>/dev/null
	LOCK_PID=
}

# The network: a veth pair with one IPv4 and one IPv6 address in a namespace of the test's own.
# Without namespaces (a restricted container) the kiosk sees the host's addresses instead.
NETNS=()
if ip netns add "$NS" 2>/dev/null; then
	if ip -n "$NS" link add v0 type veth peer name v1 && ip -n "$NS" link set v1 up &&
		ip -n "$NS" link set v0 up && ip -n "$NS" addr add 198.51.100.7/24 dev v0 &&
		ip -n "$NS" addr add fd00:5::7/64 dev v0 nodad; then
		NETNS=(ip netns exec "$NS")
	fi
fi
MDNS="$(hostname | cut -d. -f1)"
case $MDNS in *-recovery) MDNS=$MDNS.local ;; *) MDNS=$MDNS-recovery.local ;; esac

tmx() { tmux -S "$T/tmux.socket" "$@"; } # the socket goes with $T
trap 'tmx kill-server 2>/dev/null; ip netns del "$NS" 2>/dev/null; cleanup' EXIT

# start SESSION WIDTH HEIGHT [ENV=VALUE...]: the kiosk in a new terminal of that size.
start() {
	local name=$1 w=$2 h=$3 cmd
	shift 3
	printf -v cmd '%q ' env "$@" "${NETNS[@]}" "$KIOSK" --config "$T/lifeboat.conf" --cmdline "$T/cmdline"
	tmx -f /dev/null new-session -d -s "$name" -x "$w" -y "$h" "$cmd" &&
		tmx set-option -t "$name" remain-on-exit on >/dev/null
}

screen() { tmx capture-pane -p -J -t "$1" 2>/dev/null; }

# wait_for SESSION TEXT...: true as soon as the screen shows every TEXT (within 5 s); the
# screen goes to $T/screen either way, for the failure message.
wait_for() {
	local s=$1 i t ok
	shift
	for i in $(seq 50); do
		screen "$s" >"$T/screen"
		ok=1
		for t; do grep -qF -- "$t" "$T/screen" || { ok=0 MISSING=$t; break; }; done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
wait_gone() {
	local i
	for i in $(seq 50); do
		screen "$1" >"$T/screen"
		grep -qF -- "$2" "$T/screen" || return 0
		sleep 0.1
	done
	MISSING="(still there) $2"
	return 1
}

# expect NAME SESSION TEXT...: the screen shows every TEXT.
expect() {
	local name=$1
	shift
	if wait_for "$@"; then
		pass "$name"
	else
		fail "$name" "the screen lacks '$MISSING': $(grep -v '^$' "$T/screen" | head -40 | tr '\n' '|')"
	fi
}

# ---- 80x25: the states of an install ----

status idle
start k80 80 25
expect /kiosk/80x25/title k80 "LIFEBOAT RECOVERY  $VERSION"
expect /kiosk/80x25/reason k80 "Reboot into recovery was requested"
expect /kiosk/80x25/mdns-name k80 "http://$MDNS/"
if [ ${#NETNS[@]} -gt 0 ]; then
	expect /kiosk/80x25/addresses k80 "http://198.51.100.7/" "http://[fd00:5::7]/" "http://[fe80::"
else
	skip /kiosk/80x25/addresses "no network namespace here"
fi
expect /kiosk/80x25/idle k80 "Waiting for an update" "Upload a bundle"
expect /kiosk/80x25/main-from-boot-state k80 "MAIN     version 1.0" "main first, 3 attempts left, then recovery"
expect /kiosk/80x25/keys k80 "Enter  start main" "L log" "R redraw"

# the raw bytes the kiosk writes from here on: no clearing of the screen between frames
tmx pipe-pane -o -t k80 "cat >>$T/raw80"

hold_lock || fail /kiosk/lock "could not take the install lock"
status receiving message=receiving started=$(date +%s)
expect /kiosk/80x25/receiving k80 "Receiving the bundle" "step 1 of 5"
status verifying bundle.version=2.0 bundle.compatible=test-board received=4096 bundle_size=2870000000
expect /kiosk/80x25/verifying k80 "Checking the signature of version 2.0" "step 2 of 5"
status writing bundle.version=2.0 received=287000000 bundle_size=2870000000 written=300000000 \
	image_total=4000000000 mbps=31.5 eta_seconds=82 main.state=invalid
expect /kiosk/80x25/writing-10 k80 "Writing version 2.0 to main" "step 3 of 5" " 10 %" "287 MB of 2.87 GB" \
	"31.5 MB/s" "about 1 min 22 s left" "main cannot start: an install is running"
status writing bundle.version=2.0 received=1234100000 bundle_size=2870000000 written=1700000000 \
	image_total=4000000000 mbps=25.1 eta_seconds=64 main.state=invalid
expect /kiosk/80x25/writing-43 k80 " 43 %" "1.23 GB of 2.87 GB" "25.1 MB/s" "about 1 min 4 s left"
# the bar: 43 % of its cells filled
bar=$(grep -F ' 43 %' "$T/screen" | head -1)
filled=$(grep -o '█' <<<"$bar" | wc -l)
empty=$(grep -o '░' <<<"$bar" | wc -l)
if [ $((filled + empty)) -gt 0 ] && [ $((filled * 100 / (filled + empty))) -ge 40 ] &&
	[ $((filled * 100 / (filled + empty))) -le 44 ]; then
	pass /kiosk/80x25/bar
else
	fail /kiosk/80x25/bar "$filled filled, $empty empty cells: $bar"
fi
status syncing bundle.version=2.0 received=2870000000 bundle_size=2870000000 written=4000000000 \
	image_total=4000000000 main.state=invalid
expect /kiosk/80x25/syncing k80 "Flushing version 2.0 to the card" "step 4 of 5" "100 %"
status read-back bundle.version=2.0 received=2870000000 bundle_size=2870000000 written=4000000000 \
	readback=3200000000 image_total=4000000000 mbps=120.0 eta_seconds=6 main.state=invalid
expect /kiosk/80x25/read-back k80 "Reading version 2.0 back and checking it" "step 5 of 5" " 80 %" \
	"3.20 GB of 4.00 GB" "120.0 MB/s" "about 6 s left"
# an install whose status stops changing while it holds the lock
status writing bundle.version=2.0 received=100 bundle_size=1000 main.state=invalid updated=$(($(date +%s) - 40))
expect /kiosk/80x25/stalled k80 "No news from the install for"
release_lock
# the lock released with the state still "writing": the install process died
expect /kiosk/80x25/install-died k80 "The install failed" "stopped unexpectedly"

now=$(date +%s)
status done bundle.version=2.0 received=2870000000 bundle_size=2870000000 written=4000000000 \
	readback=4000000000 image_total=4000000000 eta_seconds=0 last.result=installed \
	'last.message=installed version 2.0' last.time=$now main.state=valid main.version=2.0 main.installed_at=$now
expect /kiosk/80x25/done k80 "Installed version 2.0" "100 %" "MAIN     version 2.0, installed $(date -u -d @$now '+%Y-%m-%d %H:%M') UTC" \
	"LAST     installed version 2.0 at" "Enter  start main"

status failed 'message=the upload stopped at 43 % (connection lost): upload again' bundle.version=2.0 \
	last.result=failed last.code=truncated 'last.message=the upload stopped at 43 % (connection lost): upload again' \
	last.time=$now main.state=invalid
expect /kiosk/80x25/failed k80 "The install failed" "the upload stopped at 43 % (connection lost): upload again" \
	"The last install did not finish: main is not bootable" "Reboot into recovery was requested" \
	"failed at" "(truncated)" "main cannot start: the last install did not finish"

tmx pipe-pane -t k80 # stops recording
sleep 0.2
clears=$(grep -c $'\e\\[2J' "$T/raw80" 2>/dev/null)
if [ ! -s "$T/raw80" ]; then
	fail /kiosk/80x25/no-clear-per-frame "nothing was recorded"
elif [ "$clears" -ne 0 ]; then
	fail /kiosk/80x25/no-clear-per-frame "the screen was cleared $clears times between frames"
else
	pass /kiosk/80x25/no-clear-per-frame
fi
# nothing changes: nothing is written
tmx pipe-pane -o -t k80 "cat >>$T/raw80-idle"
sleep 1.5
tmx pipe-pane -t k80
if [ -s "$T/raw80-idle" ]; then
	fail /kiosk/80x25/quiet-when-unchanged "$(stat -c %s "$T/raw80-idle") bytes written while nothing changed"
else
	pass /kiosk/80x25/quiet-when-unchanged
fi

# ---- keys ----

# Enter with main invalid: no reboot, and the screen says why
tmx send-keys -t k80 Enter
expect /kiosk/keys/enter-main-invalid-says-why k80 "Main cannot start: the last install did not finish. Install a bundle first."
sleep 0.3
check /kiosk/keys/enter-main-invalid-no-reboot test ! -e "$T/reboots"

# Enter with main out of attempts (boot control): no reboot either
status idle
grub-editenv "$T/grubenv" set LB_main_LEFT=0
tmx send-keys -t k80 Enter
expect /kiosk/keys/enter-no-attempts-says-why k80 "Main cannot start: main has no boot attempts left"
check /kiosk/keys/enter-no-attempts-no-reboot test ! -e "$T/reboots"
grub-editenv "$T/grubenv" set LB_main_LEFT=3

# Enter with main valid: the pending one-shot is cleared and the reboot command runs with "main"
status done bundle.version=2.0 last.result=installed 'last.message=installed version 2.0' last.time=$now \
	main.state=valid main.version=2.0 main.installed_at=$now
grub-editenv "$T/grubenv" set LB_ONESHOT=recovery
wait_for k80 "Enter  start main"
tmx send-keys -t k80 Enter
for i in $(seq 50); do [ -s "$T/reboots" ] && break; sleep 0.1; done
check /kiosk/keys/enter-reboots-into-main grep -qx main "$T/reboots"
check /kiosk/keys/enter-runs-the-command-once test "$(wc -l <"$T/reboots")" -eq 1
check /kiosk/keys/enter-clears-oneshot sh -c "grub-editenv '$T/grubenv' list | grep -qx 'LB_ONESHOT='"
check /kiosk/keys/enter-logged grep -q "kiosk: reboot into main requested at the console" "$T/lifeboat.log"
expect /kiosk/keys/enter-says-rebooting k80 "Rebooting into main"

# L: the log; any key returns
tmx send-keys -t k80 L
expect /kiosk/keys/log k80 "log $T/lifeboat.log" "install of version 1.9 started" "connection lost at 43 %" \
	"reboot into main requested at the console" "Any key"
tmx send-keys -t k80 x
expect /kiosk/keys/log-any-key-returns k80 "UPDATE" "Installed version 2.0"

# R: whatever wrote over the screen (kernel messages on tty1) is gone
pane_tty=$(tmx display-message -p -t k80 '#{pane_tty}')
printf '\r\nKERNEL-NOISE over the screen\r\n' >"$pane_tty"
wait_for k80 "KERNEL-NOISE"
tmx send-keys -t k80 R
if wait_gone k80 "KERNEL-NOISE" && wait_for k80 "Installed version 2.0" "LIFEBOAT RECOVERY"; then
	pass /kiosk/keys/redraw
else
	fail /kiosk/keys/redraw "$MISSING"
fi

# ---- addresses come and go ----
if [ ${#NETNS[@]} -gt 0 ]; then
	ip -n "$NS" addr add 203.0.113.9/24 dev v0
	expect /kiosk/addresses/added k80 "http://203.0.113.9/"
	ip -n "$NS" addr del 203.0.113.9/24 dev v0
	if wait_gone k80 "http://203.0.113.9/"; then pass /kiosk/addresses/removed; else fail /kiosk/addresses/removed "$MISSING"; fi
	ip -n "$NS" link set v0 down
	if wait_gone k80 "http://198.51.100.7/"; then pass /kiosk/addresses/link-down; else fail /kiosk/addresses/link-down "$MISSING"; fi
	ip -n "$NS" link set v0 up
	ip -n "$NS" addr add fd00:5::7/64 dev v0 nodad 2>/dev/null # IPv6 addresses go with the link
	expect /kiosk/addresses/link-up k80 "http://198.51.100.7/" "http://[fd00:5::7]/"
else
	skip /kiosk/addresses "no network namespace here"
fi

# ---- sizes ----

# a resize (SIGWINCH) to 200x60: the big letters, everything on one screen
tmx resize-window -t k80 -x 200 -y 60
if wait_for k80 "▀" "Installed version 2.0" "http://$MDNS/" && [ "$(head -1 "$T/screen" | wc -m)" -gt 190 ]; then
	pass /kiosk/resize/200x60
else
	fail /kiosk/resize/200x60 "$(head -3 "$T/screen" | tr '\n' '|')"
fi

status writing bundle.version=2.0 received=1234100000 bundle_size=2870000000 mbps=25.1 eta_seconds=64 \
	main.state=invalid
hold_lock
start k200 200 60
expect /kiosk/200x60/status k200 "LIFEBOAT RECOVERY  $VERSION" "Writing version 2.0 to main" " 43 %" \
	"25.1 MB/s" "about 1 min 4 s left" "http://$MDNS/" "Reboot into recovery was requested"
# the state in big letters, across the screen
big=$(grep -c '██' "$T/screen")
if [ "$big" -ge 5 ]; then pass /kiosk/200x60/big-letters; else fail /kiosk/200x60/big-letters "$big rows of big letters"; fi
if [ ${#NETNS[@]} -gt 0 ]; then
	expect /kiosk/200x60/addresses k200 "http://198.51.100.7/" "http://[fd00:5::7]/"
fi
release_lock

# ---- plain lines ----

status idle
start dumb 80 25 TERM=dumb
tmx pipe-pane -o -t dumb "cat >>$T/raw-dumb"
expect /kiosk/dumb/status-line dumb "LIFEBOAT RECOVERY $VERSION | Waiting for an update | main: valid 1.0 | why: Reboot into recovery was requested | open http://$MDNS/"
hold_lock
status writing bundle.version=2.0 received=1234100000 bundle_size=2870000000 mbps=25.1 eta_seconds=64 \
	main.state=invalid
expect /kiosk/dumb/line-on-change dumb "Writing version 2.0 to main 43% (1.23 GB of 2.87 GB, 25.1 MB/s, about 1 min 4 s left)"
lines=$(screen dumb | grep -c LIFEBOAT)
sleep 1.5
check /kiosk/dumb/no-line-without-change test "$(screen dumb | grep -c LIFEBOAT)" -eq "$lines"
release_lock
tmx pipe-pane -t dumb
if grep -q $'\e' "$T/raw-dumb"; then
	fail /kiosk/dumb/no-escape-sequences "$(grep -c $'\e' "$T/raw-dumb") lines with escape sequences"
else
	pass /kiosk/dumb/no-escape-sequences
fi
tmx send-keys -t dumb L
expect /kiosk/dumb/log dumb "--- log $T/lifeboat.log ---" "--- end of log ---"

# a screen too small for the full view: plain lines, and the full view once it is bigger
status idle
start small 36 8
expect /kiosk/small/plain small "| why: Reboot into recovery was requested | open http://$MDNS/"
tmx resize-window -t small -x 80 -y 25
expect /kiosk/small/grows-to-full-screen small "UPDATE" "Enter  start main"

# standard output not a terminal: one line, no escape sequences
"${NETNS[@]}" "$KIOSK" --config "$T/lifeboat.conf" --cmdline "$T/cmdline" >"$T/piped" 2>&1 </dev/null &
piped=$!
wait_until 10 test -s "$T/piped"
sleep 1.5 # more lines, if it wrongly wrote one per redraw, would come now
kill "$piped"
wait "$piped" 2>/dev/null
if [ "$(wc -l <"$T/piped")" -eq 1 ] && grep -q "^LIFEBOAT RECOVERY $VERSION | Waiting for an update" "$T/piped" &&
	! grep -q $'\e' "$T/piped"; then
	pass /kiosk/pipe/one-plain-line
else
	fail /kiosk/pipe/one-plain-line "$(head -3 "$T/piped")"
fi

# none of the kiosks died on the way
dead=$(tmx list-panes -a -F '#{session_name} #{pane_dead} #{pane_dead_status}' | awk '$2 == 1')
if [ -z "$dead" ]; then pass /kiosk/still-running; else fail /kiosk/still-running "$dead"; fi
