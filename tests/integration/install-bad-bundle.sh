#!/usr/bin/env bash
# Installs of bad input: not a bundle, unknown format, broken caps, truncation anywhere, single
# flipped bits, trailing bytes, signatures that must not pass, and bundles that do not fit this
# device. Defects in the header leave the target's bytes as they were ("untouched"); defects
# found while streaming the payload leave it "invalid".
source "$(dirname "$0")/../lib.sh"

make_keys || { fail /install/bad-bundle "cannot make keys"; exit 1; }
make_image "$T/img" 4 && make_bundle "$T/b" "$T/img" || { fail /install/bad-bundle "cannot make the bundle"; exit 1; }
head -c 6M /dev/urandom >"$T/target"

msize=$(be32 "$T/b" 12)
hs=$(header_size "$T/b")
bsize=$(size_of "$T/b")
# The first chunk that carries a payload starts right after the header: its compressed size is
# on the first chunk line of the manifest that is not "zero".
chunk1=$(tail -c +21 "$T/b" | head -c "$msize" | grep -m1 -E '^[0-9a-f]{64} [0-9]+$' | cut -d' ' -f2)

# variant NAME: a fresh copy of the good bundle at $T/NAME, to be damaged.
variant() { cp "$T/b" "$T/$1" && echo "$T/$1"; }

# ---- not a bundle ----
random_file "$T/random" 100000
expect_error /install/not-a-bundle/random not-a-bundle untouched "$T/target" <"$T/random"
zstd -q -c "$T/img" >"$T/img.zst"
expect_error /install/not-a-bundle/zstd not-a-bundle untouched "$T/target" <"$T/img.zst"
expect_error /install/not-a-bundle/raw-image not-a-bundle untouched "$T/target" <"$T/img"
expect_error /install/not-a-bundle/empty not-a-bundle untouched "$T/target" </dev/null

# Input that cannot be read at all (a directory on standard input).
mkdir -p "$T/dir"
expect_error /install/read-failed read-failed untouched "$T/target" <"$T/dir"

# ---- the preamble ----
f=$(variant format) && patch_bytes "$f" 8 00 00 00 03
expect_error /install/preamble/format-version format-version untouched "$T/target" <"$f"
# The preamble is not signed: a format-2 bundle relabelled as format 1 disagrees with its manifest.
f=$(variant format-mismatch) && patch_bytes "$f" 8 00 00 00 01
expect_error /install/preamble/format-mismatch manifest-invalid untouched "$T/target" <"$f"
f=$(variant over-cap) && patch_bytes "$f" 12 00 40 00 01 # 4 MiB + 1
expect_error /install/preamble/manifest-over-cap manifest-invalid untouched "$T/target" <"$f"
f=$(variant huge) && patch_bytes "$f" 12 ff ff ff ff
expect_error /install/preamble/manifest-size-max manifest-invalid untouched "$T/target" <"$f"
f=$(variant zero-manifest) && patch_bytes "$f" 12 00 00 00 00
expect_error /install/preamble/manifest-size-zero manifest-invalid untouched "$T/target" <"$f"
f=$(variant sigsize) && patch_bytes "$f" 19 61 # 97 bytes
expect_error /install/preamble/signature-size manifest-invalid untouched "$T/target" <"$f"

# ---- truncated ----
cut_at() { head -c "$2" "$T/b" >"$T/cut-$1" && echo "$T/cut-$1"; }
expect_error /install/truncated/magic not-a-bundle untouched "$T/target" <"$(cut_at magic 5)"
expect_error /install/truncated/preamble truncated untouched "$T/target" <"$(cut_at preamble 12)"
expect_error /install/truncated/manifest truncated untouched "$T/target" <"$(cut_at manifest $((20 + msize / 2)))"
expect_error /install/truncated/signature truncated untouched "$T/target" <"$(cut_at signature $((20 + msize + 40)))"
expect_error /install/truncated/header-end truncated invalid "$T/target" <"$(cut_at header-end "$hs")"
expect_error /install/truncated/mid-chunk truncated invalid "$T/target" <"$(cut_at mid-chunk $((hs + chunk1 / 2)))"
expect_error /install/truncated/one-byte-short truncated invalid "$T/target" <"$(cut_at short $((bsize - 1)))"
# A pipe that ends early, as an upload that was cut.
head -c $((hs + chunk1 + 1000)) "$T/b" | expect_error /install/truncated/pipe truncated invalid "$T/target"
head -c $((20 + msize / 3)) "$T/b" | expect_error /install/truncated/pipe-in-header truncated untouched "$T/target"

# ---- one flipped bit ----
f=$(variant flip-manifest) && flip_bit "$f" $((20 + msize / 2))
expect_error /install/bitflip/manifest bad-signature untouched "$T/target" <"$f"
f=$(variant flip-manifest-first) && flip_bit "$f" 20
expect_error /install/bitflip/manifest-first-byte bad-signature untouched "$T/target" <"$f"
f=$(variant flip-keyid) && flip_bit "$f" $((20 + msize + 5))
expect_error /install/bitflip/key-id unknown-key untouched "$T/target" <"$f"
f=$(variant flip-sig) && flip_bit "$f" $((20 + msize + 32 + 10))
expect_error /install/bitflip/signature bad-signature untouched "$T/target" <"$f"
f=$(variant flip-chunk) && flip_bit "$f" $((hs + chunk1 / 2))
expect_error /install/bitflip/chunk chunk-corrupt invalid "$T/target" <"$f"
f=$(variant flip-chunk-magic) && flip_bit "$f" "$hs"
expect_error /install/bitflip/chunk-frame-header chunk-corrupt invalid "$T/target" <"$f"
f=$(variant flip-last) && flip_bit "$f" $((bsize - 1))
expect_error /install/bitflip/last-byte chunk-corrupt invalid "$T/target" <"$f"

# ---- trailing data ----
f=$(variant trailing) && printf x >>"$f"
expect_error /install/trailing-data/one-byte trailing-data invalid "$T/target" <"$f"
f=$(variant joined) && cat "$T/b" >>"$f"
expect_error /install/trailing-data/two-bundles trailing-data invalid "$T/target" <"$f"

# ---- signatures ----
"$LBB" create --unsigned --compatible test-board --version 1.0 --image rootfs="$T/img" -o "$T/unsigned"
expect_error /install/unsigned/refused unsigned untouched "$T/target" <"$T/unsigned"
head -c 6M /dev/urandom >"$T/target"
expect_installed /install/unsigned/allowed "$T/target" "$T/img" --allow-unsigned <"$T/unsigned"
# Without a signature to stop it first, a damaged manifest reaches the parser.
cp "$T/unsigned" "$T/unsigned-damaged" && patch_bytes "$T/unsigned-damaged" 20 4c # "Lifeboat-manifest"
expect_error /install/unsigned/manifest-invalid manifest-invalid untouched "$T/target" --allow-unsigned <"$T/unsigned-damaged"
head -c 6M /dev/urandom >"$T/target"

make_bundle "$T/other" "$T/img" --key "$T/keys/other.pem"
expect_error /install/unknown-key unknown-key untouched "$T/target" <"$T/other"
# A signed bundle, but the device has an empty keyring / no keyring at all.
mkdir -p "$T/empty-keyring"
expect_error /install/keyring/empty key untouched "$T/target" --keyring "$T/empty-keyring" <"$T/b"
expect_error /install/keyring/missing unknown-key untouched "$T/target" --keyring "$T/no-such-keyring" <"$T/b"

# ---- bundles for another device ----
make_bundle "$T/other-board" "$T/img" --compatible other-board
expect_error /install/incompatible incompatible untouched "$T/target" <"$T/other-board"
make_bundle "$T/newer" "$T/img" --min-recovery 99.0
expect_error /install/recovery-too-old recovery-too-old untouched "$T/target" <"$T/newer"
make_bundle "$T/same" "$T/img" --min-recovery "$(cat "$ROOT/VERSION")"
expect_installed /install/recovery-same-version "$T/target" "$T/img" <"$T/same"

head -c 3M /dev/urandom >"$T/small"
expect_error /install/image-too-large/file image-too-large untouched "$T/small" <"$T/b"
loop=$(loop_attach "$T/small")
expect_error /install/image-too-large/loop image-too-large untouched "$loop" <"$T/b"

random_file "$T/boot" 100000
"$LBB" create --key "$T/keys/signing.pem" --compatible test-board --version 1.0 \
	--image rootfs="$T/img" --image boot="$T/boot" -o "$T/two"
expect_error /install/no-target no-target untouched "$T/target" <"$T/two"
