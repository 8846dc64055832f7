# A companion computer in QEMU (TCG) that boots a whole card image: the demo, the end-to-end test
# and the power-cut torture drive it with these functions. The guest keeps running across its
# own reboots (no -no-reboot): the boot loader, the boot state and the fallbacks work as on a
# device.
#
#   vm_start DISK PORT       boot DISK; the host's 127.0.0.1:PORT reaches the guest's port 80
#   vm_console_mark          an offset into the console log: later waits look after it only
#   vm_wait_console RE S     wait up to S seconds for a console line matching RE (extended)
#   vm_wait_http PATH S      wait up to S seconds for GET PATH to answer 2xx
#   vm_type LINE             type LINE and Enter on the serial console (main's root shell)
#   vm_kill                  SIGKILL: the power cut
#   vm_stop                  ACPI power button, then SIGKILL after 30 s
#
# Set by vm_start: VM_PID, VM_URL (http://127.0.0.1:PORT), VM_CONSOLE (the serial console's
# log, kept across restarts), VM_SERIAL (the TCP port QEMU's serial listens on, on 127.0.0.1).
# Knobs: VM_MEMORY (MiB, default 512), VM_SMP (default 2), VM_DISPLAY (default none; "gtk" or
# "vnc=:1" to see the kiosk on the screen), VM_DIR (where logs go, default the disk's dir).
#
# VM_ARCH picks the machine (both with a virtio disk and network, an i6300esb watchdog that
# resets the machine, the first serial port as the console):
#   x86_64 (default)  QEMU's pc machine, SeaBIOS, which starts the GRUB on the card (qemu-x86_64)
#   aarch64           QEMU's virt machine, Cortex-A57, U-Boot as its firmware (qemu-arm64): the
#                     u-boot.bin and the environment flash that scripts/make-sdcard put beside
#                     the card (DISK without .img, plus -u-boot.bin and -u-boot-env.img), or
#                     VM_UBOOT and VM_UBOOT_ENV

source "$(dirname "${BASH_SOURCE[0]}")/net.sh"

vm_now_us() { echo "${EPOCHREALTIME/./}"; }

vm_start() {
	local disk=$1 port=$2 dir=${VM_DIR:-$(dirname "$1")}
	VM_URL=http://127.0.0.1:$port
	VM_CONSOLE=${VM_CONSOLE:-$dir/console.log}
	VM_SERIAL=$(free_port)
	[ "$VM_SERIAL" != "$port" ] || VM_SERIAL=$((port + 1))
	# The console log survives restarts (a power cut, then the next boot): one file per run.
	echo "==== vm_start $(date -u +%FT%TZ) ====" >>"$VM_CONSOLE"
	vm_machine "$disk" || return 1
	"${VM_MACHINE[@]}" -accel tcg -m "${VM_MEMORY:-512}" -smp "${VM_SMP:-2}" -nodefaults \
		-no-user-config -display "${VM_DISPLAY:-none}" \
		-chardev "socket,id=serial0,host=127.0.0.1,port=$VM_SERIAL,server=on,wait=off,logfile=$VM_CONSOLE,logappend=on" \
		-serial chardev:serial0 \
		-drive "file=$disk,format=raw,if=virtio,cache=writeback" \
		-netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=net0 \
		-device i6300esb -action watchdog=reset \
		</dev/null >>"$dir/qemu.out" 2>&1 &
	VM_PID=$!
}

# vm_machine DISK: VM_MACHINE, the QEMU command of VM_ARCH up to what every machine shares:
# the binary, the machine, its firmware and its screen.
vm_machine() {
	case ${VM_ARCH:-x86_64} in
	x86_64) VM_MACHINE=(qemu-system-x86_64 -machine pc -device VGA) ;;
	aarch64)
		local uboot=${VM_UBOOT:-${1%.img}-u-boot.bin} env=${VM_UBOOT_ENV:-${1%.img}-u-boot-env.img}
		if [ ! -f "$uboot" ] || [ ! -f "$env" ]; then
			echo "vm_start: no U-Boot for $1: $uboot and $env (scripts/make-sdcard puts them beside the card)" >&2
			return 1
		fi
		# virt has no VGA: a screen for the kiosk only when one is asked for
		VM_MACHINE=(qemu-system-aarch64 -machine virt -cpu cortex-a57 -bios "$uboot"
			-drive "if=pflash,format=raw,index=1,readonly=on,file=$env")
		[ "${VM_DISPLAY:-none}" = none ] || VM_MACHINE+=(-device virtio-gpu-pci)
		;;
	*)
		echo "vm_start: VM_ARCH=$VM_ARCH: x86_64 or aarch64" >&2
		return 1 ;;
	esac
}

vm_running() { [ -n "${VM_PID:-}" ] && kill -0 "$VM_PID" 2>/dev/null; }

vm_console_mark() { stat -c %s "${VM_CONSOLE:-}" 2>/dev/null || echo 0; }

# vm_console_since MARK: the console after MARK, without carriage returns and terminal escapes.
vm_console_since() {
	tail -c +"$((${1:-0} + 1))" "$VM_CONSOLE" 2>/dev/null | sed 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g'
}

# vm_console_excerpt MARK LINES: one line for a failure message: the kernel's first complaint
# after MARK (a hung task, a lockup or stall, an oops, an I/O or file system error), whose stack
# dump would otherwise hide it, then the last LINES lines, joined by "|".
vm_console_excerpt() {
	local since complaint
	since=$(vm_console_since "$1" | grep -av '^\s*$')
	complaint=$(grep -aE -m1 'blocked for more than|soft lockup|hard LOCKUP|rcu.*stall|BUG:|Oops|Kernel panic|I/O error|EXT4-fs error|SQUASHFS error|Out of memory' <<<"$since")
	{ [ -n "$complaint" ] && echo "first kernel complaint: $complaint ..."; tail -n "$2" <<<"$since"; } | cut -c1-150 | tr '\n' '|'
}

# vm_wait_console REGEX SECONDS [MARK]: true once a console line after MARK (default: the start
# of the log) matches; false when the time runs out or QEMU ends. The matching line is in
# VM_MATCH.
vm_wait_console() {
	local re=$1 limit=$2 mark=${3:-0} t0
	t0=$(vm_now_us)
	while [ $(($(vm_now_us) - t0)) -lt $((limit * 1000000)) ]; do
		VM_MATCH=$(vm_console_since "$mark" | grep -aE -m1 "$re")
		[ -n "$VM_MATCH" ] && return 0
		vm_running || return 1
		sleep 0.5
	done
	return 1
}

# vm_wait_http PATH SECONDS: true once GET $VM_URL/PATH answers 2xx (body in VM_BODY).
vm_wait_http() {
	local path=$1 limit=$2 t0
	t0=$(vm_now_us)
	while [ $(($(vm_now_us) - t0)) -lt $((limit * 1000000)) ]; do
		if VM_BODY=$(curl -sf --max-time 3 "$VM_URL$path" 2>/dev/null); then
			return 0
		fi
		vm_running || return 1
		sleep 0.5
	done
	return 1
}

# vm_type LINE: LINE and a newline into the serial console (connects, writes, disconnects).
vm_type() {
	exec {fd}<>"/dev/tcp/127.0.0.1/$VM_SERIAL" || return 1
	printf '%s\r' "$1" >&"$fd"
	sleep 0.2
	exec {fd}>&-
}

vm_kill() {
	vm_running && kill -KILL "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null || true
	VM_PID=""
}

vm_stop() {
	vm_running || return 0
	kill -TERM "$VM_PID" 2>/dev/null
	local i
	for i in $(seq 1 60); do
		vm_running || break
		sleep 0.5
	done
	vm_kill
}
