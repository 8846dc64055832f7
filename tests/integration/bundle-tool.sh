#!/usr/bin/env bash
# The host tool: keygen, create, info and verify, their refusals and exit codes, and
# reproducible bundles.
source "$(dirname "$0")/../lib.sh"

# expect_tool NAME CODE MESSAGE_REGEX COMMAND...: COMMAND exits with CODE's number (0 for "ok")
# and its output (stdout and stderr) matches MESSAGE_REGEX, or is empty when that is "".
expect_tool() {
	local name=$1 code=$2 regex=$3 want rc
	shift 3
	want=$(code_number "$code")
	"$@" >"$T/tool.out" 2>&1
	rc=$?
	if [ -z "$want" ] || [ $rc -ne "$want" ]; then
		fail "$name" "exit $rc, expected ${want:-?} ($code): $(head -c 300 "$T/tool.out")"
	elif [ -z "$regex" ] && [ -s "$T/tool.out" ]; then
		fail "$name" "unexpected output: $(head -c 300 "$T/tool.out")"
	elif [ -n "$regex" ] && ! grep -qE -- "$regex" "$T/tool.out"; then
		fail "$name" "output does not match /$regex/: $(head -c 300 "$T/tool.out")"
	else
		pass "$name"
	fi
}

# ---- keygen ----
mkdir -p "$T/k"
expect_tool /bundle/keygen/creates ok '' "$LBB" keygen "$T/k/a.pem" "$T/k/a.pub.pem"
if [ "$(stat -c %a "$T/k/a.pem")" != 600 ]; then
	fail /bundle/keygen/private-mode "the private key is mode $(stat -c %a "$T/k/a.pem")"
elif ! openssl pkey -in "$T/k/a.pem" -noout -text 2>/dev/null | grep -q ED25519; then
	fail /bundle/keygen/private-mode "the private key is not an Ed25519 PEM key"
elif ! openssl pkey -pubin -in "$T/k/a.pub.pem" -noout 2>/dev/null; then
	fail /bundle/keygen/private-mode "the public key does not load"
else
	pass /bundle/keygen/private-mode
fi

before_priv=$(digest "$T/k/a.pem") before_pub=$(digest "$T/k/a.pub.pem")
expect_tool /bundle/keygen/refuses-overwrite/private io 'must not exist' "$LBB" keygen "$T/k/a.pem" "$T/k/new.pub.pem"
if [ "$(digest "$T/k/a.pem")" != "$before_priv" ] || [ -e "$T/k/new.pub.pem" ]; then
	fail /bundle/keygen/refuses-overwrite/private/unchanged "the existing key changed, or a public key was written"
else
	pass /bundle/keygen/refuses-overwrite/private/unchanged
fi
expect_tool /bundle/keygen/refuses-overwrite/public io 'must not exist' "$LBB" keygen "$T/k/new.pem" "$T/k/a.pub.pem"
if [ "$(digest "$T/k/a.pub.pem")" != "$before_pub" ]; then
	fail /bundle/keygen/refuses-overwrite/public/unchanged "the existing public key changed"
elif [ -e "$T/k/new.pem" ]; then
	fail /bundle/keygen/refuses-overwrite/public/unchanged "a private key without its public key was left behind"
else
	pass /bundle/keygen/refuses-overwrite/public/unchanged
fi

# ---- create ----
make_keys || { fail /bundle "cannot make keys"; exit 1; }
make_image "$T/img" 4 || { fail /bundle "cannot make the image"; exit 1; }

# create_refused NAME CODE REGEX [create options...]: create fails and leaves nothing behind.
create_refused() {
	local name=$1 code=$2 regex=$3
	shift 3
	mkdir -p "$T/out" && rm -f "$T/out"/*
	expect_tool "$name" "$code" "$regex" "$LBB" create --key "$T/keys/signing.pem" --compatible test-board \
		--version 1.0 --image rootfs="$T/img" -o "$T/out/b" "$@"
	if [ -n "$(ls -A "$T/out")" ]; then fail "$name/nothing-left" "left $(ls "$T/out")"; else pass "$name/nothing-left"; fi
}
create_refused /bundle/create/bad-compatible/space usage 'compatible' --compatible "test board"
create_refused /bundle/create/bad-compatible/empty usage 'compatible' --compatible ""
create_refused /bundle/create/bad-compatible/slash usage 'compatible' --compatible "a/b"
create_refused /bundle/create/bad-compatible/non-ascii usage 'compatible' --compatible "tëst"
create_refused /bundle/create/bad-compatible/too-long usage 'compatible' --compatible "$(printf 'a%.0s' $(seq 65))"
create_refused /bundle/create/bad-version usage 'version' --version "1.0 beta"
create_refused /bundle/create/bad-chunk-size/32K usage 'chunk size' --chunk-size 32K
create_refused /bundle/create/bad-chunk-size/32M usage 'chunk size' --chunk-size 32M
create_refused /bundle/create/bad-chunk-size/not-power-of-two usage 'chunk size' --chunk-size 3M
create_refused /bundle/create/bad-chunk-size/zero usage 'chunk size' --chunk-size 0
create_refused /bundle/create/bad-chunk-size/junk usage 'chunk-size' --chunk-size lots
create_refused /bundle/create/missing-image io 'cannot open image' --image boot="$T/no-such-image"
create_refused /bundle/create/duplicate-role usage 'twice' --image rootfs="$T/img"
create_refused /bundle/create/bad-key key 'not an Ed25519 private key' --key "$T/keyring/signing.pem"
touch "$T/empty-image"
create_refused /bundle/create/empty-image usage 'empty' --image boot="$T/empty-image"

# ---- info ----
SOURCE_DATE_EPOCH=1234567890 make_bundle "$T/b" "$T/img" --description "a test bundle" --min-recovery 0.1 --chunk-size 256K
info_json() {
	local img_size img_sha key_id
	img_size=$(size_of "$T/img")
	img_sha=$(digest "$T/img")
	key_id=$(openssl pkey -pubin -in "$T/keyring/signing.pem" -outform DER | openssl dgst -sha256 -r | cut -c1-64)
	"$LBB" info --json "$T/b" >"$T/info.json" || return 1
	jq -e --arg sha "$img_sha" --arg key "$key_id" --argjson size "$img_size" \
		--argjson bsize "$(size_of "$T/b")" --argjson payload $(($(size_of "$T/b") - $(header_size "$T/b"))) '
		.format == 2 and .compatible == "test-board" and .version == "1.0" and
		.description == "a test bundle" and .build_time == 1234567890 and
		.min_recovery_version == "0.1" and .signed == true and .key_id == $key and
		.bundle_size == $bsize and (.images | length) == 1 and
		(.images[0] | .role == "rootfs" and .fstype == "ext4" and .size == $size and
			.sha256 == $sha and .chunk_size == 262144 and .chunks == 16 and
			.zero_chunks > 0 and .zero_chunks < 16 and .payload_size == $payload)' "$T/info.json" >/dev/null
}
check /bundle/info/json info_json

"$LBB" create --unsigned --compatible test-board --version 1.0 --image rootfs="$T/img" -o "$T/unsigned"
# Format 1 for recoveries that read only it: the same images, chunk lines without anchors.
"$LBB" create --unsigned --format 1 --compatible test-board --version 1.0 --image rootfs="$T/img" -o "$T/format1"
check /bundle/create/format-1 sh -c '"$1" info --json "$2" | jq -e ".format == 1" >/dev/null && head -c 40 "$2" | grep -qa "lifeboat-manifest 1"' sh "$LBB" "$T/format1"
expect_tool /bundle/create/format-unknown usage '--format takes 1' "$LBB" create --unsigned --format 3 --compatible b --version 1 --image rootfs="$T/img" -o "$T/x"
check /bundle/info/json-unsigned sh -c '"$1" info --json "$2" | jq -e ".signed == false and .key_id == \"\""' sh "$LBB" "$T/unsigned"
expect_tool /bundle/info/text ok 'signed: +yes, key [0-9a-f]{16}' "$LBB" info "$T/b"
expect_tool /bundle/info/not-a-bundle not-a-bundle 'not a Lifeboat bundle' "$LBB" info "$T/img"
head -c 100 "$T/b" >"$T/cut"
expect_tool /bundle/info/truncated truncated 'ends in its manifest' "$LBB" info "$T/cut"
check /bundle/info/json-error sh -c '"$1" info --json "$2"; [ $? -eq 3 ]' sh "$LBB" "$T/img"

# ---- verify ----
expect_tool /bundle/verify/ok ok 'valid bundle, version 1.0 for test-board' "$LBB" verify --key "$T/keyring/signing.pem" "$T/b"
expect_tool /bundle/verify/keyring-dir ok 'valid bundle' "$LBB" verify --keyring "$T/keyring" "$T/b"
hs=$(header_size "$T/b")
cp "$T/b" "$T/corrupt" && flip_bit "$T/corrupt" $((hs + 100))
expect_tool /bundle/verify/chunk-corrupt chunk-corrupt 'chunk 1 of 16 of image .rootfs. (does not decompress|does not match its hash)' \
	"$LBB" verify --keyring "$T/keyring" "$T/corrupt"
make_bundle "$T/other" "$T/img" --key "$T/keys/other.pem"
other_id=$(openssl pkey -pubin -in "$T/keys/other.pub.pem" -outform DER | openssl dgst -sha256 -r | cut -c1-16)
expect_tool /bundle/verify/unknown-key unknown-key "signed by key $other_id\\.\\.\\., which this device does not trust" \
	"$LBB" verify --keyring "$T/keyring" "$T/other"
cp "$T/b" "$T/badsig" && flip_bit "$T/badsig" 30
expect_tool /bundle/verify/bad-signature bad-signature 'signature does not match' "$LBB" verify --keyring "$T/keyring" "$T/badsig"
head -c $(($(size_of "$T/b") - 1)) "$T/b" >"$T/short"
expect_tool /bundle/verify/truncated truncated 'ended at byte' "$LBB" verify --keyring "$T/keyring" "$T/short"
cp "$T/b" "$T/trailing" && printf x >>"$T/trailing"
expect_tool /bundle/verify/trailing-data trailing-data 'data follows the end' "$LBB" verify --keyring "$T/keyring" "$T/trailing"
expect_tool /bundle/verify/unsigned unsigned 'not signed' "$LBB" verify --keyring "$T/keyring" "$T/unsigned"
expect_tool /bundle/verify/usage usage 'verify needs' "$LBB" verify "$T/b"

# ---- reproducible ----
# Ed25519 signatures are deterministic: the same inputs, key and build time give the same bytes,
# whatever the number of compression threads.
SOURCE_DATE_EPOCH=1 make_bundle "$T/r1" "$T/img" --chunk-size 64K
SOURCE_DATE_EPOCH=1 make_bundle "$T/r2" "$T/img" --chunk-size 64K
SOURCE_DATE_EPOCH=1 make_bundle "$T/r3" "$T/img" --chunk-size 64K --threads 1
check /bundle/create/reproducible cmp "$T/r1" "$T/r2"
check /bundle/create/reproducible/threads cmp "$T/r1" "$T/r3"
SOURCE_DATE_EPOCH=2 make_bundle "$T/r4" "$T/img" --chunk-size 64K
check /bundle/create/reproducible/build-time-counts sh -c '! cmp -s "$1" "$2"' sh "$T/r1" "$T/r4"
