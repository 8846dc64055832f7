# Boot control from the command line, and the safety invariant under SIGKILL: however an install
# ends, the boot state never points at a main that was not completely written and verified.
source "$(dirname "$0")/../lib.sh"

make_keys
make_image "$T/image" 24
make_bundle "$T/b.lifeboat" "$T/image" --chunk-size 64K
truncate -s 32M "$T/main.img"
grub-editenv "$T/grubenv" create
printf '#!/bin/sh\necho "$1" >>%s/reboots\n' "$T" >"$T/record-reboot"
chmod 755 "$T/record-reboot"
cat >"$T/lifeboat.conf" <<CONF
compatible = test-board
keyring = $T/keyring
target.rootfs = $T/main.img
boot-backend = grub
boot-env = $T/grubenv
boot-attempts = 3
reboot-command = $T/record-reboot
CONF
lbc() { "$LB" "$@" --config "$T/lifeboat.conf"; }
env_has() { grub-editenv "$T/grubenv" list | grep -qx "$1"; }

check /boot/cli/status-blank sh -c "'$LB' status --config '$T/lifeboat.conf' --json | jq -e '.order == [] and .backend == \"grub\"'"
check /boot/cli/mark-good-refused-when-not-installed sh -c "! '$LB' mark-good --config '$T/lifeboat.conf' 2>/dev/null"
"$LB" install --config "$T/lifeboat.conf" "$T/b.lifeboat" >/dev/null
check /boot/cli/install-activates sh -c "grub-editenv '$T/grubenv' list | grep -qx 'LB_ORDER=main recovery' && grub-editenv '$T/grubenv' list | grep -qx 'LB_main_LEFT=3'"
grub-editenv "$T/grubenv" set LB_main_LEFT=1 # as GRUB leaves it after two boots
check /boot/cli/mark-good lbc mark-good
check /boot/cli/mark-good-restores env_has LB_main_LEFT=3
lbc reboot-recovery >/dev/null
check /boot/cli/reboot-recovery-oneshot env_has LB_ONESHOT=recovery
check /boot/cli/reboot-recovery-runs-command grep -qx recovery "$T/reboots"
check /boot/cli/status-json sh -c "'$LB' status --config '$T/lifeboat.conf' --json | jq -e '.oneshot_recovery == true and .order[0].slot == \"main\" and .order[0].attempts_left == 3'"

# SIGKILL at random instants of an install fed slowly through a pipe (about 0.6 s end to end):
# afterwards main is either out of the boot order, or the install had finished and main holds
# exactly the image.
slow_feed() {
	local size=$(stat -c %s "$T/b.lifeboat") piece=$((128 << 10)) off=0
	while [ $off -lt "$size" ]; do
		tail -c +$((off + 1)) "$T/b.lifeboat" | head -c $piece
		off=$((off + piece))
		sleep 0.02
	done
}
safe=0 mid=0 done_before=0
kills=12
for i in $(seq 1 $kills); do
	grub-editenv "$T/grubenv" set 'LB_ORDER=main recovery' LB_main_LEFT=3 # a good main before the update
	delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 0.7 }')
	(slow_feed | exec "$LB" install --config "$T/lifeboat.conf" - >/dev/null 2>&1) 2>/dev/null &
	sleep "$delay"
	pkill -KILL -f "$LB install --config $T/lifeboat.conf" 2>/dev/null
	wait 2>/dev/null
	if env_has 'LB_ORDER=recovery'; then
		safe=$((safe + 1)) mid=$((mid + 1)) # main out of the order: the device boots the recovery
	elif env_has 'LB_ORDER=main recovery' && cmp -s -n $((24 << 20)) "$T/image" "$T/main.img"; then
		safe=$((safe + 1)) done_before=$((done_before + 1)) # the install had completed
	else
		echo "kill $i after ${delay}s: $(grub-editenv "$T/grubenv" list | tr '\n' ' ')" >&2
	fi
done
if [ $safe -eq $kills ] && [ $mid -gt 0 ]; then
	pass "/boot/invariant/sigkill ($kills kills: $mid during the install, $done_before after it)"
else
	fail /boot/invariant/sigkill "$safe of $kills kills left a safe boot state ($mid during the install)"
fi

# The Raspberry Pi hand-over (`lifeboat boot-handover`, run early by the rpi recovery): started by
# the firmware, the recovery counts main's attempt and says `main`; started by U-Boot (a Pi 3:
# lifeboat.loader=u-boot on its command line), it stays and counts nothing, since U-Boot did.
mkenvimage -p 0 -s 0x1000 -o "$T/rpi.env" - </dev/null && cp "$T/rpi.env" "$T/rpi.env.redund"
sed -e "s|^boot-backend = grub|boot-backend = rpi|" -e "s|^boot-env = .*|boot-env = $T/rpi.env|" \
	"$T/lifeboat.conf" >"$T/rpi.conf"
"$LB" install --config "$T/rpi.conf" "$T/b.lifeboat" >/dev/null
echo "console=ttyS1,115200 root=PARTUUID=4c424f54-02 ro lifeboat.slot=recovery" >"$T/cmdline.firmware"
echo "console=ttyS1,115200 root=PARTUUID=4c424f54-02 ro lifeboat.slot=recovery lifeboat.reason=requested lifeboat.loader=u-boot" >"$T/cmdline.uboot"
rpi_left() { "$LB" status --config "$T/rpi.conf" --json | jq -r '.order[0].attempts_left'; }
handover() { "$LB" boot-handover --config "$T/rpi.conf" --cmdline "$1" 2>"$T/handover.err"; }
stays_for_uboot() { [ "$(handover "$T/cmdline.uboot")" = recovery ] && grep -q 'U-Boot started this recovery' "$T/handover.err"; }
check /boot/cli/rpi-handover-uboot-stays stays_for_uboot
check /boot/cli/rpi-handover-uboot-counts-nothing test "$(rpi_left)" = 3
check /boot/cli/rpi-handover-firmware-tries-main test "$(handover "$T/cmdline.firmware")" = main
check /boot/cli/rpi-handover-firmware-counts test "$(rpi_left)" = 2
