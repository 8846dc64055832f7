# rootfs/boards/arm64-modules.sh: the kernel module directories (under lib/modules/VERSION/kernel/)
# that the arm64 boards (qemu-arm64.conf, rpi.conf: the same Debian kernel, linux-image-arm64)
# leave out of the recovery image. Sourced by their board files (bash).
#
# The generic arm64 kernel carries drivers for every arm64 machine (290 MB of modules). A recovery
# keeps storage, wired and USB network, USB, input and the display; it leaves out other file
# systems, storage networking, RDMA, RAID, firewalling and virtualisation hosting (as on x86),
# and also cameras and TV tuners, sound cards, Wi-Fi and Bluetooth (the tether is wired),
# sensors, staging drivers, data-centre network and storage adapters, desktop GPUs, and the
# functions of the USB device side. What the Raspberry Pi's drivers link stays: HDMI-CEC and
# the remote-control core and the sound core (vc4, the display), the USB device controller core
# (dwc2, the Pi 3's USB). rootfs/build checks the board's REQUIRED_MODULES against this list.
MODULES_DROP="
	drivers/infiniband drivers/comedi drivers/target drivers/md drivers/nvdimm drivers/xen
	drivers/vfio drivers/vhost drivers/net/wwan drivers/net/bonding drivers/cxl
	drivers/media/common drivers/media/dvb-core drivers/media/dvb-frontends drivers/media/firewire
	drivers/media/i2c drivers/media/mc drivers/media/mmc drivers/media/pci drivers/media/platform
	drivers/media/radio drivers/media/test-drivers drivers/media/tuners drivers/media/usb
	drivers/media/v4l2-core drivers/staging drivers/iio drivers/bluetooth drivers/net/wireless drivers/net/can
	drivers/usb/gadget/function drivers/usb/gadget/legacy drivers/usb/serial
	drivers/gpu/drm/amd drivers/gpu/drm/radeon drivers/gpu/drm/nouveau drivers/gpu/drm/msm drivers/gpu/drm/tegra
	drivers/scsi/lpfc drivers/scsi/qla2xxx drivers/scsi/qla4xxx drivers/scsi/bfa drivers/scsi/mpt3sas
	drivers/scsi/aic7xxx drivers/scsi/hisi_sas drivers/scsi/pm8001 drivers/scsi/cxgbi drivers/scsi/mpi3mr
	drivers/net/ethernet/mellanox drivers/net/ethernet/qlogic drivers/net/ethernet/chelsio
	drivers/net/ethernet/sfc drivers/net/ethernet/hisilicon drivers/net/ethernet/cavium
	drivers/net/ethernet/netronome drivers/net/ethernet/huawei drivers/net/ethernet/brocade
	drivers/net/ethernet/emulex drivers/net/ethernet/amazon drivers/net/ethernet/broadcom/bnxt
	drivers/net/ethernet/broadcom/bnx2x drivers/net/ethernet/intel/ice drivers/net/ethernet/intel/i40e
	sound/pci sound/usb sound/firewire sound/soc/codecs
	fs/btrfs fs/xfs fs/nfs fs/nfsd fs/nfs_common fs/lockd fs/smb fs/ceph fs/cachefiles
	fs/fscache fs/netfs fs/orangefs fs/udf fs/erofs fs/romfs fs/sysv fs/quota fs/isofs fs/ocfs2
	fs/f2fs fs/gfs2 fs/dlm
	net/sunrpc net/ceph net/sctp net/rds net/tipc net/openvswitch net/netfilter
	net/ipv4/netfilter net/ipv6/netfilter net/bridge net/smc net/dccp net/l2tp net/mpls
	net/vmw_vsock net/kcm net/ife net/nsh net/bluetooth net/mac80211 net/wireless
"
