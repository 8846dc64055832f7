# Lifeboat boot selection for U-Boot (docs/boot.md); `mkimage -T script -d boot.cmd boot.scr`.
#
# The boot state is kept twice on the FAT boot partition, as lifeboat.env and lifeboat.env.redund,
# in the format of `env export -c` (CRC32, then key=value pairs): LB_ORDER, LB_<slot>_LEFT,
# LB_ONESHOT, the same variables as on every Lifeboat boot loader. The first copy whose CRC is
# right counts; a write replaces the first copy, then the second, so one is always whole. Neither
# readable: the recovery boots.
#
# The board values come from lifeboat-board.txt on the same partition (`env import -t`):
#   lb_dev, lb_bootpart     where this partition is, e.g. "virtio 0" and 1 (default: where
#                           distro boot found this script)
#   lb_part_<slot>          the slot's partition number on lb_dev (main, A, B, recovery)
#   lb_cmdline_<slot>       the slot's kernel command line
#   lb_cmdline_file_<slot>  or a file on the slot's partition holding it (a Raspberry Pi main's
#                           cmdline.txt, which its updates change); read when the slot boots
#   lb_kernel_<slot>, lb_initrd_<slot>   the files on the slot's partition (default
#                           /boot/vmlinuz and /boot/initrd.img; an empty initrd: none)
#   lb_env_addr, lb_kernel_addr, lb_initrd_addr, lb_fdt   memory to use (lb_fdt: the device tree address)
# An address may name one of U-Boot's variables, e.g. lb_fdt=${fdtcontroladdr} or
# lb_kernel_addr=${kernel_addr_r}: `env import` keeps such a value as text and hush expands a
# variable only once, so they are expanded here, through `run`.
# Every kernel started here gets lifeboat.loader=u-boot: on a Raspberry Pi card, where the
# recovery hands over to main itself unless U-Boot did the counting (docs/boot.md), it says who did.

setenv lb_dev "${devtype} ${devnum}"
setenv lb_bootpart ${distro_bootpart}
for lb_slot in main A B recovery; do
	setenv lb_kernel_${lb_slot} /boot/vmlinuz
	setenv lb_initrd_${lb_slot} /boot/initrd.img
done
setenv lb_board_addr ${kernel_addr_r}
load ${devtype} ${devnum}:${distro_bootpart} ${lb_board_addr} lifeboat-board.txt && env import -t ${lb_board_addr} ${filesize}
setenv lb_expand "setenv lb_env_addr ${lb_env_addr}; setenv lb_kernel_addr ${lb_kernel_addr}; setenv lb_initrd_addr ${lb_initrd_addr}; setenv lb_fdt ${lb_fdt}"
run lb_expand

setenv LB_ORDER
setenv LB_ONESHOT
if load ${lb_dev}:${lb_bootpart} ${lb_env_addr} lifeboat.env && env import -c ${lb_env_addr} 0x1000 LB_ORDER LB_ONESHOT LB_main_LEFT LB_A_LEFT LB_B_LEFT LB_main_VERSION LB_A_VERSION LB_B_VERSION; then
	echo "lifeboat: boot state from lifeboat.env"
elif load ${lb_dev}:${lb_bootpart} ${lb_env_addr} lifeboat.env.redund && env import -c ${lb_env_addr} 0x1000 LB_ORDER LB_ONESHOT LB_main_LEFT LB_A_LEFT LB_B_LEFT LB_main_VERSION LB_A_VERSION LB_B_VERSION; then
	echo "lifeboat: boot state from lifeboat.env.redund"
else
	echo "lifeboat: no intact boot state"
	setenv LB_ORDER recovery
fi

setenv lb_boot recovery
if test -z "${LB_ORDER}" || test "${LB_ORDER}" = "recovery"; then
	setenv lb_reason no-main
else
	setenv lb_reason attempts-exhausted
fi

if test "${LB_ONESHOT}" = "recovery"; then
	setenv LB_ONESHOT
	setenv lb_reason requested
	setenv lb_save 1
else
	for lb_slot in ${LB_ORDER}; do
		if test "${lb_boot}" = "recovery" && test "${lb_slot}" != "recovery"; then
			setenv lb_left
			if test "${lb_slot}" = "main"; then setenv lb_left "${LB_main_LEFT}"; fi
			if test "${lb_slot}" = "A"; then setenv lb_left "${LB_A_LEFT}"; fi
			if test "${lb_slot}" = "B"; then setenv lb_left "${LB_B_LEFT}"; fi
			if test -n "${lb_left}" && test ${lb_left} -gt 0; then
				setexpr lb_left ${lb_left} - 1
				if test "${lb_slot}" = "main"; then setenv LB_main_LEFT ${lb_left}; fi
				if test "${lb_slot}" = "A"; then setenv LB_A_LEFT ${lb_left}; fi
				if test "${lb_slot}" = "B"; then setenv LB_B_LEFT ${lb_left}; fi
				setenv lb_boot ${lb_slot}
				setenv lb_save 1
			fi
		fi
	done
fi

# The attempt is counted before the kernel starts: both copies, first then second (the second
# only once the first is written). An attempt that cannot be saved is not counted, and a main
# that fails uncounted would be tried forever: the recovery boots instead.
if test "${lb_save}" = "1"; then
	env export -c -s 0x1000 ${lb_env_addr} LB_ORDER LB_ONESHOT LB_main_LEFT LB_A_LEFT LB_B_LEFT LB_main_VERSION LB_A_VERSION LB_B_VERSION
	setenv lb_saved
	fatwrite ${lb_dev}:${lb_bootpart} ${lb_env_addr} lifeboat.env 0x1000 && fatwrite ${lb_dev}:${lb_bootpart} ${lb_env_addr} lifeboat.env.redund 0x1000 && setenv lb_saved 1
	if test "${lb_saved}" != "1" && test "${lb_boot}" != "recovery"; then
		echo "lifeboat: the boot state cannot be saved; not booting ${lb_boot} uncounted"
		setenv lb_boot recovery
		setenv lb_reason state-unwritable
	fi
fi

if test "${lb_boot}" != "recovery"; then
	echo "lifeboat: booting ${lb_boot} (${lb_left} attempts left after this one)"
	if test "${lb_boot}" = "main"; then setenv lb_part ${lb_part_main}; setenv lb_cmdline "${lb_cmdline_main}"; setenv lb_cmdline_file "${lb_cmdline_file_main}"; setenv lb_kernel "${lb_kernel_main}"; setenv lb_initrd "${lb_initrd_main}"; fi
	if test "${lb_boot}" = "A"; then setenv lb_part ${lb_part_A}; setenv lb_cmdline "${lb_cmdline_A}"; setenv lb_cmdline_file "${lb_cmdline_file_A}"; setenv lb_kernel "${lb_kernel_A}"; setenv lb_initrd "${lb_initrd_A}"; fi
	if test "${lb_boot}" = "B"; then setenv lb_part ${lb_part_B}; setenv lb_cmdline "${lb_cmdline_B}"; setenv lb_cmdline_file "${lb_cmdline_file_B}"; setenv lb_kernel "${lb_kernel_B}"; setenv lb_initrd "${lb_initrd_B}"; fi
	# A command line kept in a file is imported as the value of lb_cmdline_read: the file is
	# loaded behind the 16 bytes "lb_cmdline_read=" written here (U-Boot has no command that
	# reads a file into a variable), and `env import -t` takes its first line.
	if test -n "${lb_cmdline_file}"; then
		setenv lb_cmdline_read
		setexpr lb_a ${lb_env_addr} + 4; setexpr lb_b ${lb_env_addr} + 8; setexpr lb_c ${lb_env_addr} + 0xc; setexpr lb_text_addr ${lb_env_addr} + 0x10
		mw.l ${lb_env_addr} 0x635f626c; mw.l ${lb_a} 0x696c646d; mw.l ${lb_b} 0x725f656e; mw.l ${lb_c} 0x3d646165
		if load ${lb_dev}:${lb_part} ${lb_text_addr} ${lb_cmdline_file}; then
			setexpr lb_text_size ${filesize} + 0x10
			env import -t -r ${lb_env_addr} ${lb_text_size} lb_cmdline_read
		fi
		setenv lb_cmdline "${lb_cmdline_read}"
	fi
	setenv lb_initrd_arg -
	if load ${lb_dev}:${lb_part} ${lb_kernel_addr} ${lb_kernel} && test -n "${lb_cmdline}"; then
		if test -n "${lb_initrd}"; then
			setenv lb_initrd_arg
			load ${lb_dev}:${lb_part} ${lb_initrd_addr} ${lb_initrd} && setenv lb_initrd_arg ${lb_initrd_addr}:${filesize}
		fi
		if test -n "${lb_initrd_arg}"; then
			setenv bootargs "${lb_cmdline} lifeboat.slot=${lb_boot} lifeboat.loader=u-boot"
			booti ${lb_kernel_addr} ${lb_initrd_arg} ${lb_fdt}
		fi
	fi
	# Only reached when the kernel could not be loaded or started: the attempt is counted.
	echo "lifeboat: ${lb_boot} could not be loaded; resetting"
	reset
fi

echo "lifeboat: booting recovery (reason: ${lb_reason})"
load ${lb_dev}:${lb_part_recovery} ${lb_kernel_addr} ${lb_kernel_recovery}
load ${lb_dev}:${lb_part_recovery} ${lb_initrd_addr} ${lb_initrd_recovery}
setenv lb_initrd_size ${filesize}
setenv bootargs "${lb_cmdline_recovery} lifeboat.slot=recovery lifeboat.reason=${lb_reason} lifeboat.loader=u-boot"
booti ${lb_kernel_addr} ${lb_initrd_addr}:${lb_initrd_size} ${lb_fdt}
echo "lifeboat: the recovery could not be loaded"
reset
