# Shared helpers for the integration tests (sourced). Each test prints "ok NAME" or
# "FAIL NAME: why"; tests/run counts those lines. Everything a test creates lives under $T
# and is removed on exit, loop and device-mapper devices included.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LB=$ROOT/build/bin/lifeboat
LBB=$ROOT/build/bin/lifeboat-bundle
T=$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-it-XXXXXX")
LOOPS=()
DMS=()
MOUNTS=()

cleanup() {
	local m d l
	for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
	for d in "${DMS[@]}"; do dmsetup remove --retry "$d" 2>/dev/null; done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

# check NAME COMMAND...: passes when the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then pass "$name"; else fail "$name" "$(tail -3 "$T/check.out" | tr '\n' ' ')"; fi
}

# A loop device over FILE (extra losetup flags may follow); its name goes to stdout.
loop_attach() {
	local dev
	dev=$(losetup --find --show "${@:2}" "$1") || return 1
	LOOPS+=("$dev")
	echo "$dev"
}

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

# make_bundle OUT IMAGE [create options...]: signed with the trusted key for board "test-board".
make_bundle() {
	local out=$1 image=$2
	shift 2
	"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 1.0 \
		--image rootfs="$image" -o "$out" "$@"
}

# install TARGET [options...] < BUNDLE: the device CLI with the test keyring, JSON output in
# $T/out.json; returns the exit code.
install_to() {
	local target=$1
	shift
	"$LB" install --json --config /dev/null --keyring "$T/keyring" --compatible test-board \
		--target rootfs="$target" "$@" - >"$T/out.json" 2>"$T/err.txt"
}

# The last JSON event's field: json_field code
json_field() { tail -n 1 "$T/out.json" | jq -r ".$1"; }

# expect_error NAME CODE TARGET_STATE [install options...] < BUNDLE
expect_error() {
	local name=$1 code=$2 state=$3
	shift 3
	install_to "$@"
	local rc=$? got msg
	got=$(json_field code)
	msg=$(json_field message)
	if [ $rc -eq 0 ]; then
		fail "$name" "install succeeded"
	elif [ "$got" != "$code" ]; then
		fail "$name" "error code $got, expected $code ($msg)"
	elif [ "$(json_field target)" != "$state" ]; then
		fail "$name" "target $(json_field target), expected $state"
	elif [ -z "$msg" ] || [ "$msg" = null ]; then
		fail "$name" "no message"
	else
		pass "$name"
	fi
}
