# rootfs/lib.sh: what every Debian root file system this project bootstraps shares: the archive
# lines it is fetched from (apt_sources), the dpkg path excludes that keep documentation,
# translations and other dead weight out of it (DPKG_OPTS), and, for a board of another
# architecture than this machine's, its tool names and the qemu-user set-up that runs its
# programs (arch_names, foreign_arch_ready). Sourced (bash) by rootfs/build (the recovery) and
# scripts/build-example-main (the example companion system); the caller sets
# `set -euo pipefail`. Both builds hash apt_sources and DPKG_OPTS into the keys of their cached
# bootstraps, so a change there fetches again.
# shellcheck shell=bash

# The deb lines of this machine's bookworm archives (deb822 .sources or one-line .list), one
# a line: bookworm, bookworm-updates, bookworm-security. RECOVERY_SOURCES overrides them.
apt_sources() {
	if [ -n "${RECOVERY_SOURCES:-}" ]; then
		printf '%s\n' "$RECOVERY_SOURCES"
		return
	fi
	local f
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk '
				function flush(  n, i, s) {
					if (types ~ /(^| )deb( |$)/ && enabled != "no" && uri != "") {
						n = split(suites, s, " ")
						for (i = 1; i <= n; i++)
							if (s[i] ~ /^bookworm(-updates|-security)?$/)
								print "deb " uri " " s[i] " " (comps == "" ? "main" : comps)
					}
					types = suites = uri = enabled = comps = ""
				}
				/^[ \t]*$/ { flush(); next }
				/^[ \t]*#/ { next }
				tolower($1) == "types:"      { sub(/^[^:]*:[ \t]*/, ""); types = $0 }
				tolower($1) == "suites:"     { sub(/^[^:]*:[ \t]*/, ""); suites = $0 }
				tolower($1) == "uris:"       { uri = $2 }
				tolower($1) == "components:" { sub(/^[^:]*:[ \t]*/, ""); comps = $0 }
				tolower($1) == "enabled:"    { enabled = tolower($2) }
				END { flush() }' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			awk '$1 == "deb" {
					i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
					if ($(i + 1) ~ /^bookworm(-updates|-security)?$/) {
						line = "deb"; for (j = i; j <= NF; j++) line = line " " $j; print line
					}
				}' "$f"
		done
	} | awk '!seen[$0]++'
}

# dpkg options for the bootstrap (mmdebstrap --dpkgopt=...), also written into the image
# (/etc/dpkg/dpkg.cfg.d/99mmdebstrap), so that packages installed later leave the same out.
# shellcheck disable=SC2034 # used by the scripts that source this file
DPKG_OPTS=(
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/lintian/*'
	'path-exclude=/usr/share/bug/*'
	'path-exclude=/usr/share/bash-completion/*'
	'path-exclude=/usr/share/zsh/*'
	# udev's hardware database (20 MiB): vendor names and input quirks, nothing either system needs
	'path-exclude=/lib/udev/hwdb.d/*'
	'path-exclude=/usr/lib/udev/hwdb.d/*'
	# glibc's character set converters: UTF-8 and ASCII are built in, nothing here uses others
	'path-exclude=/usr/lib/*/gconv/*.so'
)

# ---- a foreign architecture ----

# arch_names: for the board's ARCH (amd64 or arm64), GNU_TYPE (the triplet of its binutils,
# e.g. aarch64-linux-gnu-strip), QEMU_ARCH (the name of its qemu-user interpreter) and
# ELF_MACHINE (the e_machine number of its programs). Returns non-zero for another ARCH.
arch_names() {
	case $ARCH in
	amd64) GNU_TYPE=x86_64-linux-gnu QEMU_ARCH=x86_64 ELF_MACHINE=62 ;;
	arm64) GNU_TYPE=aarch64-linux-gnu QEMU_ARCH=aarch64 ELF_MACHINE=183 ;;
	*) return 1 ;;
	esac
}

# elf_machine FILE: its ELF header's e_machine (both ARCHes are little-endian).
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }

# foreign_arch_ready: the programs of a foreign ARCH run through qemu-user-static, which the
# kernel's binfmt_misc starts for them: mmdebstrap's maintainer scripts, and depmod, modprobe,
# systemctl and mkinitramfs in a staged tree. The registration must carry the F flag (the
# interpreter is opened when it is registered) so that it also works inside a chroot that has
# no qemu of its own; qemu-user-static's own configuration does. A machine where systemd does
# not run (a container) never registered it: this does what systemd-binfmt would do at boot.
# Uses ARCH and QEMU_ARCH (arch_names), and the caller's log and die.
foreign_arch_ready() {
	local dir=/proc/sys/fs/binfmt_misc entry conf=/usr/lib/binfmt.d/qemu-$QEMU_ARCH.conf
	entry=$dir/qemu-$QEMU_ARCH
	[ -x "/usr/bin/qemu-$QEMU_ARCH-static" ] && [ -f "$conf" ] ||
		die "qemu-$QEMU_ARCH-static is missing: a board of ARCH $ARCH runs its tools through it (run scripts/install-deps: qemu-user-static)"
	command -v arch-test >/dev/null || die "arch-test is missing: mmdebstrap needs it for a foreign ARCH (run scripts/install-deps)"
	if [ ! -e "$dir/register" ]; then
		mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null ||
			die "binfmt_misc is not mounted on $dir and cannot be mounted here (in a container, the host must provide it)"
		log "mounted binfmt_misc on $dir"
	fi
	if [ ! -e "$entry" ]; then
		sed -e '/^#/d' -e '/^$/d' "$conf" >"$dir/register" 2>/dev/null ||
			die "cannot register qemu-$QEMU_ARCH with binfmt_misc ($conf into $dir/register)"
		log "registered qemu-$QEMU_ARCH with binfmt_misc (from $conf)"
	fi
	grep -qx enabled "$entry" || die "binfmt_misc: qemu-$QEMU_ARCH is registered but disabled (echo 1 >$entry)"
	grep -q '^flags:.*F' "$entry" ||
		die "binfmt_misc: qemu-$QEMU_ARCH is registered without the F flag, so programs in a chroot cannot reach the interpreter: remove it (echo -1 >$entry) and run this again"
}
