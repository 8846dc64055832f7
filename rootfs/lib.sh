# rootfs/lib.sh: what every Debian root file system this project bootstraps shares: the archive
# lines it is fetched from (apt_sources) and the dpkg path excludes that keep documentation,
# translations and other dead weight out of it (DPKG_OPTS). Sourced (bash) by rootfs/build (the
# recovery) and scripts/build-example-main (the example companion system); the caller sets
# `set -euo pipefail`. Both builds hash these into the keys of their cached bootstraps, so a
# change here fetches again.
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
