# Shared helpers for the integration tests (sourced). Each test prints "ok NAME" or
# "FAIL NAME: why" (or "ok NAME # skipped: why"); tests/run counts those lines. Everything a
# test creates lives under $T and is removed on exit, with the background jobs it started and
# the loop devices, device-mapper devices and mounts it made through the helpers below (or
# registered by hand in LOOPS, DMS and MOUNTS).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LB=$ROOT/build/bin/lifeboat
LBB=$ROOT/build/bin/lifeboat-bundle
T=$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-it-XXXXXX")
LOOPS=()
DMS=()
MOUNTS=()
source "$ROOT/scripts/lib/net.sh" # free_port, wait_until, wait_server

# What the helpers set up, one "KIND NAME" line each, in order. A file rather than an array, so
# that helpers run in $(...) subshells, such as loop_attach, can register too.
REGISTRY=$T/.cleanup
register() { echo "$1 $2" >>"$REGISTRY"; }
unregister() { [ -f "$REGISTRY" ] && sed -i "\|^$1 $2\$|d" "$REGISTRY"; }

# Undone newest first: a loop device over a file inside a mount goes before that mount, and a
# mount of a loop device before that loop device.
cleanup() {
	local kind name m d l
	for name in $(jobs -p); do kill "$name" 2>/dev/null; done
	wait 2>/dev/null
	if [ -f "$REGISTRY" ]; then
		tac "$REGISTRY" | while read -r kind name; do
			case $kind in
			mount) umount "$name" || umount -l "$name" ;;
			dm) dmsetup remove --retry "$name" ;;
			setro) blockdev --setrw "$name" ;;
			loop) losetup -d "$name" ;;
			esac >/dev/null 2>&1
		done
	fi
	for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
	for d in "${DMS[@]}"; do dmsetup remove --retry "$d" 2>/dev/null; done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "ok $1 # skipped: $2"; }

# check NAME COMMAND...: passes when the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then pass "$name"; else fail "$name" "$(tail -3 "$T/check.out" | tr '\n' ' ')"; fi
}

# The exit code of an error name, as cgi/lib/error.c and error.h define it: code_number truncated
code_number() {
	local enum
	enum=$(sed -n "s/^[[:space:]]*\[\(LB_[A-Z_]*\)\] = \"$1\",.*/\1/p" "$ROOT/cgi/lib/error.c")
	[ -n "$enum" ] && sed -n "s/^[[:space:]]*$enum = \([0-9]*\),.*/\1/p" "$ROOT/cgi/lib/error.h"
}

# The SHA-256 of a file or device, as hex.
digest() { openssl dgst -sha256 -r <"$1" | cut -c1-64; }

size_of() { stat -c %s "$1"; }

# ---- devices and mounts, all undone by cleanup ----

# A loop device over FILE (extra losetup flags may follow); its name goes to stdout.
loop_attach() {
	local dev
	dev=$(losetup --find --show "${@:2}" "$1") || return 1
	register loop "$dev"
	echo "$dev"
}

# Detaches a loop device from loop_attach before the end of the test.
loop_detach() {
	losetup -d "$1" && unregister loop "$1"
}

# loop_partitions DEV: the partition nodes DEVp1, DEVp2... of a loop device attached with -P.
# The kernel may read no partition table itself (this host's has no MSDOS or EFI partition
# support built in), so partx adds them from user space when they are missing; they go with
# the loop device. Fails when DEVp1 does not appear.
loop_partitions() {
	[ -b "${1}p1" ] || partx --add "$1" 2>/dev/null
	[ -b "${1}p1" ]
}

# writable_on_exit DEV: DEV is about to be made read-only (BLKROSET, blockdev --setro); cleanup
# makes it writable again before detaching it. The flag belongs to the kernel's block device,
# not to what is attached: a loop device keeps it after losetup -d, and the next test to attach
# that loop device would find it read-only.
writable_on_exit() { register setro "$1"; }

# mount_at SOURCE DIR [mount options...]
mount_at() {
	mkdir -p "$2" && mount "${@:3}" "$1" "$2" && register mount "$2"
}

# dm_available TYPE...: true when the kernel has device-mapper with these target types.
dm_available() {
	local types type
	command -v dmsetup >/dev/null && types=$(dmsetup targets 2>/dev/null) || return 1
	for type; do grep -qw "^$type" <<<"$types" || return 1; done
}

# dm_create NAME TABLE_LINE...: a device-mapper device; its node goes to stdout.
dm_create() {
	local name=lb-it-$$-$1
	printf '%s\n' "${@:2}" | dmsetup create "$name" >/dev/null || return 1
	register dm "$name"
	dmsetup mknodes "$name" 2>/dev/null
	echo "/dev/mapper/$name"
}

# ---- keys, images, bundles ----

# Keys: $T/keys/signing.pem (private), $T/keyring/signing.pem (public), and a second,
# untrusted pair $T/keys/other.pem.
make_keys() {
	mkdir -p "$T/keys" "$T/keyring"
	"$LBB" keygen "$T/keys/signing.pem" "$T/keyring/signing.pem" &&
		"$LBB" keygen "$T/keys/other.pem" "$T/keys/other.pub.pem"
}

# make_image FILE SIZE_MIB: an ext4 image with real files and some random data.
make_image() {
	local file=$1 mib=$2
	truncate -s "${mib}M" "$file" &&
		mkfs.ext4 -q -F -d "$ROOT/cgi" "$file" &&
		head -c $((mib * 1024 * 1024 / 8)) /dev/urandom | dd of="$file" bs=1M seek=$((mib / 2)) conv=notrunc status=none iflag=fullblock
}

# nginx_start CHECK_URL SERVERS: a real nginx, a job of this test (cleanup stops it), serving
# the server { } blocks SERVERS (nginx's syntax: the listen and root lines are the caller's), its
# logs in $T/nginx/ (access.log, error.log, stderr), its temporary files in $T/nginx/tmp.
# Returns once CHECK_URL answers (wait_server); non-zero, with nginx's own words on stderr, if
# it does not.
nginx_start() {
	local check_url=$1
	shift
	mkdir -p "$T/nginx/tmp"
	cat >"$T/nginx.conf" <<-CONF
		worker_processes 1;
		pid $T/nginx/nginx.pid;
		error_log $T/nginx/error.log;
		user root;
		events { worker_connections 64; }
		http {
			access_log $T/nginx/access.log;
			client_body_temp_path $T/nginx/tmp/body;
			proxy_temp_path $T/nginx/tmp/proxy;
			fastcgi_temp_path $T/nginx/tmp/fastcgi;
			uwsgi_temp_path $T/nginx/tmp/uwsgi;
			scgi_temp_path $T/nginx/tmp/scgi;
			default_type application/octet-stream;
			$1
		}
	CONF
	nginx -c "$T/nginx.conf" -g 'daemon off;' 2>"$T/nginx/stderr" &
	wait_server $! "$check_url" && return 0
	echo "nginx did not start: $(cat "$T/nginx/stderr")" >&2
	return 1
}

# cut_relay_start UPSTREAM_PORT CUT CUTS [COMMAND]: tests/cut-relay.c (built into $T on first
# use), a job of this test, on a free port of 127.0.0.1 in front of UPSTREAM_PORT, cutting as
# CUT and CUTS say (see its header); sets RELAY_PORT and RELAY_PID. Its log starts afresh in
# $T/relay.log. Waits until it listens; a port taken between free_port and its bind (a client's
# socket) means another port. Non-zero, with the log's last lines on stderr, after three ports.
relay_ready_or_ended() { grep -qs ready "$T/relay.out" || ! kill -0 "$RELAY_PID" 2>/dev/null; }
cut_relay_start() {
	[ -x "$T/cut-relay" ] || cc -O2 -Wall -Wextra -Werror -o "$T/cut-relay" "$ROOT/tests/cut-relay.c" || return 1
	local attempt
	: >"$T/relay.log"
	for attempt in 1 2 3; do
		RELAY_PORT=$(free_port) || return 1
		rm -f "$T/relay.out" # the last relay's "ready" must not count for this one
		"$T/cut-relay" "$RELAY_PORT" "$@" >"$T/relay.out" 2>>"$T/relay.log" &
		RELAY_PID=$!
		wait_until 10 relay_ready_or_ended
		grep -qs ready "$T/relay.out" && return 0
		kill "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
	done
	echo "the cutting relay did not listen: $(tail -3 "$T/relay.log" | tr '\n' ' ')" >&2
	return 1
}

# random_file FILE BYTES
random_file() { head -c "$2" /dev/urandom >"$1"; }

# make_bundle OUT IMAGE [create options...]: signed with the trusted key for board "test-board".
# Later options win, so "--key OTHER" or "--compatible OTHER" override the defaults.
make_bundle() {
	local out=$1 image=$2
	shift 2
	"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 1.0 \
		--image rootfs="$image" -o "$out" "$@"
}

# ---- bundle bytes ----

# be32 FILE OFFSET: the big-endian u32 at OFFSET.
be32() { od -An -tu1 -j "$2" -N 4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'; }

# header_size BUNDLE: preamble + manifest + signature block, i.e. where the payload starts.
header_size() { echo $((20 + $(be32 "$1" 12) + $(be32 "$1" 16))); }

# patch_bytes FILE OFFSET HEX...: overwrites bytes in place, e.g. patch_bytes b 8 00 00 00 02
patch_bytes() {
	local file=$1 offset=$2
	shift 2
	# shellcheck disable=SC2059 # the format is the bytes
	printf "$(printf '\\x%s' "$@")" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# flip_bit FILE OFFSET: inverts the lowest bit of the byte at OFFSET.
flip_bit() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1")
	patch_bytes "$1" "$2" "$(printf %02x $((b ^ 1)))"
}

# ---- installing ----

# install_to TARGET [options...] < BUNDLE: the device CLI with the test keyring, JSON output in
# $T/out.json; returns the exit code.
install_to() {
	local target=$1
	shift
	"$LB" install --json --config /dev/null --keyring "$T/keyring" --compatible test-board \
		--target rootfs="$target" "$@" - >"$T/out.json" 2>"$T/err.txt"
}

# The last JSON event's field: json_field code
json_field() { tail -n 1 "$T/out.json" | jq -r ".$1"; }

# last_event FIELD...: the last JSON event's fields, tab-separated, in one jq run that also
# checks that every line of the output is JSON (nothing at all when one is not).
last_event() {
	local fields
	fields=$(printf '.%s,' "$@")
	jq -rs "last | [${fields%,}] | map(tostring) | @tsv" "$T/out.json" 2>/dev/null
}

# expect_installed NAME TARGET IMAGE [install options...] < BUNDLE: the install succeeds and
# TARGET then holds exactly IMAGE over the image's length.
expect_installed() {
	local name=$1 target=$2 image=$3 size result bytes
	shift 3
	size=$(size_of "$image")
	install_to "$target" "$@"
	local rc=$?
	IFS=$'\t' read -r result bytes < <(last_event result image_bytes)
	if [ $rc -ne 0 ]; then
		fail "$name" "exit $rc: $(tail -n 1 "$T/out.json") $(tail -n 3 "$T/err.txt")"
	elif [ "$result" != installed ]; then
		fail "$name" "the last JSON event is not the result: $(tail -n 1 "$T/out.json")"
	elif [ "$bytes" != "$size" ]; then
		fail "$name" "image_bytes $bytes, the image has $size"
	elif ! cmp -s -n "$size" "$image" "$target"; then
		fail "$name" "the target differs from the image: $(cmp -n "$size" "$image" "$target" 2>&1)"
	else
		pass "$name"
	fi
}

# expect_error NAME CODE TARGET_STATE TARGET [install options...] < BUNDLE: the install fails
# with CODE, both in the JSON and as the exit code error.h gives it, and reports TARGET_STATE.
# For "untouched", TARGET (when it is a file or block device) must still hold the same bytes.
expect_error() {
	local name=$1 code=$2 state=$3 target=$4 before=""
	shift 3
	if [ "$state" = untouched ] && { [ -f "$target" ] || [ -b "$target" ]; }; then
		before=$(digest "$target")
	fi
	install_to "$@"
	local rc=$? want got ex tstate msg
	want=$(code_number "$code")
	IFS=$'\t' read -r got ex tstate msg < <(last_event code exit target message)
	if [ $rc -eq 0 ]; then
		fail "$name" "install succeeded"
	elif [ "$got" != "$code" ]; then
		fail "$name" "error code ${got:-none}, expected $code: $(tail -n 1 "$T/out.json")"
	elif [ -z "$want" ] || [ $rc -ne "$want" ]; then
		fail "$name" "exit code $rc, expected ${want:-?} for $code"
	elif [ "$ex" != "$rc" ]; then
		fail "$name" "the JSON says exit $ex, the program exited $rc"
	elif [ "$tstate" != "$state" ]; then
		fail "$name" "target $tstate, expected $state"
	elif [ -z "$msg" ] || [ "$msg" = null ]; then
		fail "$name" "no message"
	elif [ -n "$before" ] && [ "$(digest "$target")" != "$before" ]; then
		fail "$name" "reported untouched, but the target's bytes changed"
	else
		pass "$name"
	fi
}
