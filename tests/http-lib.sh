# Helpers for the HTTP tests (sourced after lib.sh): a real lighttpd from
# scripts/run-recovery-server on 127.0.0.1, running as an unprivileged user that may write the
# main target and nothing else.

WEB_USER=lifeboat-test-web
MAIN_GROUP=lifeboat-test-main
SERVER_PID=""
chmod 0755 "$T" # the web user must reach the keyring and state directory inside

ensure_users() {
	getent group "$MAIN_GROUP" >/dev/null || groupadd --system "$MAIN_GROUP"
	id "$WEB_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin \
		-G "$MAIN_GROUP" "$WEB_USER"
}

# Gives a main target (loop device or file) to the main group with the device's own boot step.
grant_main() {
	printf 'target.rootfs = %s\n' "$1" >"$T/grant.conf"
	"$ROOT/overlay/usr/lib/lifeboat/grant-targets" "$T/grant.conf" "$MAIN_GROUP" >/dev/null
}

# start_server TARGET [extra run-recovery-server options...]: waits until it answers (30 s at
# most; a server that ended fails at once).
start_server() {
	local target=$1
	shift
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	STATE=$T/state
	"$ROOT/scripts/run-recovery-server" --port "$PORT" --compatible test-board --target rootfs="$target" \
		--keyring "$T/keyring" --state-dir "$STATE" --user "$WEB_USER" \
		--reboot-command "$T/record-reboot" "$@" >"$T/server.log" 2>&1 &
	SERVER_PID=$!
	wait_server "$SERVER_PID" "$URL/api/status" && return 0
	cat "$T/server.log" >&2
	return 1
}

stop_server() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
}

# post_bundle FILE [curl options...]: the response body goes to $T/resp.json, the status code to stdout.
post_bundle() {
	local file=$1
	shift
	# --upload-file streams the file; --data-binary would read all of it into memory first.
	curl -sS -o "$T/resp.json" -w '%{http_code}' --upload-file "$file" -X POST \
		-H 'Content-Type: application/octet-stream' "$@" "$URL/api/install"
}

resp() { jq -r "$1" "$T/resp.json"; }
status_field() { curl -sS "$URL/api/status" | jq -r "$1"; }
session_field() { curl -sS "$URL/api/session" | jq -r "$1"; }
# state_is STATE: /api/status says STATE.
state_is() { [ "$(status_field .state)" = "$1" ]; }
# install_running: an install holds the lock, or the status is in one of its running phases.
install_running() {
	[ "$(session_field '.active // false')" = true ] && return 0
	case $(status_field .state) in receiving | verifying | copying | writing | syncing | read-back) return 0 ;; esac
	return 1
}
install_ended() { ! install_running; }
# wait_idle: until no install runs (a cut one needs a moment to record its end), 30 s at most.
wait_idle() { wait_until 30 install_ended; }
