# The Lifeboat files a companion system ("main") needs (scripts/companion/README.md), installed
# into a root directory: the `lifeboat` program, the reboot helper, the mark-good unit, the
# watchdog setting, the udev rules, and /etc/lifeboat/lifeboat.conf. Sourced (bash) by
# scripts/build-example-main (the example main, which stages a whole root) and
# scripts/convert-image (a Raspberry Pi OS image, whose root gets only these files), so that
# both install the same set the same way. How a unit is enabled and how the boot partition is
# mounted stay with the caller: each system does that its own way.
#
# Functions return non-zero on failure; nothing here exits.
# shellcheck shell=bash

COMPANION_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# companion_install TREE PROGRAM STRIP BOOT_MOUNT: the files into TREE. PROGRAM is the board's
# build of `lifeboat`, stripped with STRIP (the board's binutils: strip, aarch64-linux-gnu-strip);
# BOOT_MOUNT is where main mounts the partition holding the boot state (made as an empty
# directory).
companion_install() {
	local tree=$1 program=$2 strip=$3 boot_mount=$4 f
	install -D -m 0755 -s --strip-program="$strip" "$program" "$tree/usr/bin/lifeboat" &&
		install -D -m 0755 "$COMPANION_ROOT/overlay/usr/sbin/lifeboat-reboot" "$tree/usr/sbin/lifeboat-reboot" &&
		install -d -m 0755 "$tree/etc/lifeboat" "$tree$boot_mount" &&
		install -D -m 0644 "$COMPANION_ROOT/scripts/companion/lifeboat-mark-good.service" \
			"$tree/etc/systemd/system/lifeboat-mark-good.service" &&
		install -D -m 0644 "$COMPANION_ROOT/overlay/etc/systemd/system.conf.d/50-lifeboat-watchdog.conf" \
			"$tree/etc/systemd/system.conf.d/50-lifeboat-watchdog.conf" &&
		install -d -m 0755 "$tree/etc/udev/rules.d" || return 1
	for f in "$COMPANION_ROOT"/scripts/companion/*.rules; do
		[ -f "$f" ] || continue
		install -m 0644 "$f" "$tree/etc/udev/rules.d/$(basename "$f")" || return 1
	done
}

# companion_conf TREE BACKEND BOOT_ENV COMMENT: /etc/lifeboat/lifeboat.conf in TREE, for boot
# backend BACKEND with the boot state at BOOT_ENV (a path in main), 3 attempts, the reboot
# helper and the pull directory on /data; COMMENT (lines without the leading "# ") heads it,
# saying whose file it is.
companion_conf() {
	local tree=$1 backend=$2 env=$3 comment=$4
	{
		printf '%s\n' "$comment" | sed 's/^/# /'
		cat <<-EOF
			boot-backend = $backend
			boot-env = $env
			boot-attempts = 3
			reboot-command = /usr/sbin/lifeboat-reboot
			# where the recovery finds a pull request and leaves its result (docs/pull.md):
			# its log directory on the data partition, which main mounts on /data
			pull-dir = /data/lifeboat
		EOF
	} >"$tree/etc/lifeboat/lifeboat.conf"
}
