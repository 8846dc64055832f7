# Lifeboat: a write-protected recovery partition and safe updater for companion computers.
#   make          build the programs into build/bin/
#   make check    every test; ends with "N passed, N failed"
#   make test-boot  only the real-boot tests (QEMU: GRUB and U-Boot boot selection, mark-good, fallbacks)
#   make test-boot-arm64  only the aarch64 + U-Boot one (tests/boot/arm64-uboot.sh)
#   make recovery [BOARD=qemu-x86_64|qemu-arm64|rpi] [KEY=public.pem]   the recovery image in build/BOARD/
#   make recovery-repro-check   the recovery built twice from scratch: identical? (minutes)
#   make test-image [BOARD=...]  only the recovery image's tests (contents, reproducible packing, QEMU boot)
#   make sdcard MAIN=image-or-bundle [BOARD=qemu-x86_64|qemu-arm64]   the whole card: build/BOARD/sdcard.img
#   make sdcard BOARD=rpi MAIN=rootfs-image MAIN_BOOT=fat-image (or MAIN=bundle)   a Raspberry Pi card
#   make convert-image IMAGE=raspios.img.xz [OUT=dir]   an existing Pi OS style image to a bundle and an rpi card
#   make e2e      the whole cycle on a virtual companion (QEMU): update, fallback, a pull from a URL, 10 power cuts
#   make e2e-arm64    the whole cycle on board qemu-arm64 (U-Boot, aarch64 under TCG; not in check)
#   make torture [K=100] [JOBS=2]   power cuts at random instants, K of them, on JOBS devices at once
#   make demo     a virtual companion (QEMU) in its recovery, and an update to upload from a browser
#   make demo-main    the same, booting main first
#   make demo-core    the core alone: a sample bundle installed onto a file-backed target
#   make bench    throughput and memory against baselines (not part of check)
#   make fuzz     a timed libFuzzer run of every fuzz target

VERSION := $(shell cat VERSION)
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CPPFLAGS += -D_GNU_SOURCE -DLB_VERSION='"$(VERSION)"' -Icgi
LDLIBS := -lsquashfs -lzstd -lssl -lcrypto -lpthread

B := build
# `make Q=` shows every command.
Q ?= @
LIB_SRC := $(wildcard cgi/lib/*.c)
TOOL_SRC := cgi/tool-output.c
# The recovery's console kiosk: its program plus the modules its unit test links too.
KIOSK_SRC := cgi/kiosk-model.c cgi/kiosk-view.c cgi/kiosk-frame.c cgi/kiosk-font.c
PROGRAMS := lifeboat lifeboat-bundle lifeboat-kiosk
CGIS := install status info reboot log session install-from-url install-plan
UNIT_SRC := $(wildcard tests/unit/test-*.c)
FUZZ_SRC := $(wildcard fuzz/fuzz-*.c)

# Two builds of the library: the shipping one, and one with ASan+UBSan for unit tests.
OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o) $(TOOL_SRC:%.c=$(B)/obj/%.o)
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_OBJ := $(LIB_SRC:%.c=$(B)/san/%.o)

.SECONDARY:
.PHONY: all check sdcard recovery-rpi convert-image e2e e2e-arm64 torture test-boot test-boot-arm64 test-image recovery recovery-repro-check unit integration fuzz-replay fuzz bench demo demo-main demo-core clean format lint
all: $(PROGRAMS:%=$(B)/bin/%) $(CGIS:%=$(B)/cgi-bin/%)

$(B)/obj/%.o: %.c $(wildcard cgi/lib/*.h cgi/*.h) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(B)/lib/liblifeboat.a: $(filter $(B)/obj/cgi/lib/%,$(OBJ))
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(B)/bin/%: $(B)/obj/cgi/%.o $(B)/obj/cgi/tool-output.o $(B)/lib/liblifeboat.a
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/lifeboat-kiosk: $(B)/obj/cgi/lifeboat-kiosk.o $(KIOSK_SRC:%.c=$(B)/obj/%.o) $(B)/lib/liblifeboat.a
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The CGI programs, one per endpoint: /api/NAME runs build/cgi-bin/NAME.
# (Objects before the library: an endpoint's extra objects below come last in $^.)
$(B)/cgi-bin/%: $(B)/obj/cgi/cgi-%.o $(B)/obj/cgi/cgi-common.o $(B)/lib/liblifeboat.a
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)
# The install endpoint also takes its upload over a WebSocket (cgi/websocket-upload.h).
$(B)/cgi-bin/install: $(B)/obj/cgi/websocket-upload.o

$(B)/san/%.o: %.c $(wildcard cgi/lib/*.h tests/unit/*.h) VERSION
	@mkdir -p $(dir $@)
	@echo '  CC san  $<'
	$(Q)$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -c $< -o $@

$(KIOSK_SRC:%.c=$(B)/san/%.o): $(wildcard cgi/kiosk-*.h)

$(B)/san/liblifeboat.a: $(SAN_OBJ)
	$(Q)$(AR) rcs $@ $^

$(B)/test/%: tests/unit/%.c $(B)/san/liblifeboat.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	@echo '  TEST    $@'
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(SAN_FLAGS) $(WARN) -o $@ $< $(B)/san/liblifeboat.a $(LDLIBS)

$(B)/test/test-kiosk: tests/unit/test-kiosk.c $(KIOSK_SRC:%.c=$(B)/san/%.o) $(B)/san/liblifeboat.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	@echo '  TEST    $@'
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(SAN_FLAGS) $(WARN) -o $@ $< $(KIOSK_SRC:%.c=$(B)/san/%.o) $(B)/san/liblifeboat.a $(LDLIBS)

# Fuzz targets: libFuzzer with clang when asked for (make fuzz), and the same sources linked
# against a small driver that replays the corpus under the sanitizers inside make check.
$(B)/fuzz-replay/%: fuzz/%.c fuzz/replay-main.c fuzz/pieces.h $(B)/san/liblifeboat.a
	@mkdir -p $(dir $@)
	@echo '  FUZZ    $@'
	$(Q)$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -o $@ $< fuzz/replay-main.c $(B)/san/liblifeboat.a $(LDLIBS)

$(B)/fuzz/%: fuzz/%.c fuzz/pieces.h $(LIB_SRC)
	@mkdir -p $(dir $@)
	@echo '  FUZZ    $@'
	$(Q)clang $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined $(WARN) -o $@ $< $(LIB_SRC) $(LDLIBS)

UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/test/%)
FUZZ_REPLAY_BIN := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz-replay/%)

check: all $(UNIT_BIN) $(FUZZ_REPLAY_BIN) recovery
	@tests/run

# The recovery system (rootfs/build, docs/recovery-image.md): a read-only squashfs, its kernel and
# initramfs in build/BOARD/, and for the U-Boot and Raspberry Pi boards the boot partition's files
# in build/BOARD/boot/. Needs root; the Debian bootstrap is cached in build/recovery-cache/.
BOARD ?= qemu-x86_64
# board_var NAME [BOARD]: the value of NAME= in the board file (default: $(BOARD)'s).
board_var = $(shell sed -n 's/^$(1)=//p' rootfs/boards/$(or $(2),$(BOARD)).conf 2>/dev/null)
RECOVERY_ARCH := $(call board_var,ARCH)
RECOVERY_BOOT_BACKEND := $(call board_var,BOOT_BACKEND)
# The device's programs: this build's for an amd64 board; for an arm64 board the same sources
# cross-built into $(B)/arm64 (as the aarch64 boot test does). The sub-make runs when a source
# is newer than one of the programs, and is incremental: what is made from them (a recovery
# image, an example main) is remade only when a program it takes changed. (Not a FORCE
# prerequisite: .SECONDARY above would skip it, and a phony one would remake everything made
# from the programs every time.)
ARM64_PROGRAMS := $(B)/arm64
ARM64_DEVICE_FILES := $(ARM64_PROGRAMS)/bin/lifeboat $(ARM64_PROGRAMS)/bin/lifeboat-kiosk \
	$(CGIS:%=$(ARM64_PROGRAMS)/cgi-bin/%)
$(ARM64_DEVICE_FILES) &: $(wildcard cgi/*.c cgi/*.h cgi/lib/*.c cgi/lib/*.h) VERSION
	@$(MAKE) -s --no-print-directory CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar B=$(ARM64_PROGRAMS) $(ARM64_DEVICE_FILES)
# board_programs BOARD: where that board's programs are built.
board_programs = $(if $(filter arm64,$(call board_var,ARCH,$(1))),$(ARM64_PROGRAMS),$(B))
RECOVERY_PROGRAMS := $(call board_programs,$(BOARD))
RECOVERY_DEVICE_FILES := $(RECOVERY_PROGRAMS)/bin/lifeboat $(RECOVERY_PROGRAMS)/bin/lifeboat-kiosk \
	$(CGIS:%=$(RECOVERY_PROGRAMS)/cgi-bin/%)
RECOVERY_BOOT_SOURCES := $(if $(filter uboot rpi,$(RECOVERY_BOOT_BACKEND)),overlay/boot/u-boot/boot.cmd) \
	$(if $(filter rpi,$(RECOVERY_BOOT_BACKEND)),$(wildcard overlay/boot/rpi/*))
RECOVERY_INPUTS := rootfs/build rootfs/packages rootfs/boards/$(BOARD).conf $(wildcard rootfs/boards/*.sh) \
	$(wildcard rootfs/initramfs/*) $(shell find overlay -path overlay/boot -prune -o -type f -print) \
	$(RECOVERY_BOOT_SOURCES) VERSION $(KEY) $(RECOVERY_DEVICE_FILES) $(B)/bin/lifeboat-bundle
$(B)/$(BOARD)/recovery.squashfs: $(RECOVERY_INPUTS)
	@rootfs/build --board $(BOARD) --build-dir $(B) --programs $(RECOVERY_PROGRAMS) $(if $(KEY),--key $(KEY))
recovery: $(B)/$(BOARD)/recovery.squashfs
recovery-repro-check: all $(RECOVERY_DEVICE_FILES)
	@rootfs/build --board $(BOARD) --build-dir $(B) --programs $(RECOVERY_PROGRAMS) --repro-check $(if $(KEY),--key $(KEY))

# The whole card (scripts/make-sdcard, docs/sdcard.md): boot selection, the recovery, main from
# MAIN= (a bundle, or an image that is packed into one with the development key; for BOARD=rpi
# the root file system's image, with MAIN_BOOT= main's FAT boot partition image), data.
sdcard: all recovery
	@test -n "$(MAIN)" || { echo "make sdcard: say MAIN=image-or-bundle (the system main starts with)"; exit 2; }
	@scripts/make-sdcard --board $(BOARD) --build-dir $(B) --main "$(MAIN)" $(if $(MAIN_BOOT),--main-boot "$(MAIN_BOOT)") $(SDCARD_ARGS)

# make check builds the Raspberry Pi recovery too, whatever BOARD is: tests/image/rpi-sdcard.sh
# makes a whole rpi card from it, reads it back, and boots it through its Pi 3 U-Boot in QEMU's raspi3b (the
# Pi firmware cannot run here). About 5 min on a first build, 2 with its bootstrap cached.
recovery-rpi: all
	@$(MAKE) --no-print-directory recovery BOARD=rpi
check: recovery-rpi

# A Raspberry Pi OS style card image (.img, .img.xz, .img.zst, .zip) to a bundle and a card for
# board rpi (scripts/convert-image, docs/convert-image.md): build/convert/NAME.lifeboat and
# NAME-sdcard.img, or OUT=DIR.
convert-image: recovery-rpi
	@test -n "$(IMAGE)" || { echo "make convert-image: say IMAGE=file.img[.xz|.zst] or .zip"; exit 2; }
	@scripts/convert-image "$(IMAGE)" --build-dir $(B) $(if $(OUT),--out-dir "$(OUT)")

# The example main (scripts/build-example-main, docs/example-main.md): a Debian companion system
# for the QEMU boards, at versions 1 and 2, and a version 3 whose kernel cannot be loaded:
# $(B)/BOARD/example-main-v1.ext4 and so on, for BOARD= and for both QEMU boards (qemu-arm64's
# with the cross-built programs, bootstrapped through qemu-user).
EXAMPLE_MAIN := $(B)/$(BOARD)/example-main
EXAMPLE_MAIN_INPUTS := scripts/build-example-main scripts/lib/companion.sh rootfs/lib.sh \
	$(wildcard scripts/companion/*) overlay/usr/sbin/lifeboat-reboot
# example_main_rules BOARD: the rules of that board's example mains.
define example_main_rules
$(B)/$(1)/example-main-v%.ext4: $(EXAMPLE_MAIN_INPUTS) rootfs/boards/$(1).conf $(call board_programs,$(1))/bin/lifeboat
	@scripts/build-example-main --board $(1) --build-dir $(B) --programs $(call board_programs,$(1)) --version $$* --out $$@
$(B)/$(1)/example-main-v%-broken.ext4: $(EXAMPLE_MAIN_INPUTS) rootfs/boards/$(1).conf $(call board_programs,$(1))/bin/lifeboat
	@scripts/build-example-main --board $(1) --build-dir $(B) --programs $(call board_programs,$(1)) --version $$* --broken-kernel --out $$@
endef
$(foreach board,$(sort $(BOARD) qemu-x86_64 qemu-arm64),$(eval $(call example_main_rules,$(board))))
EXAMPLE_MAINS := $(EXAMPLE_MAIN)-v1.ext4 $(EXAMPLE_MAIN)-v2.ext4 $(EXAMPLE_MAIN)-v3-broken.ext4
# (a prerequisite list is expanded where it is read: this line must follow the definition)
check: $(EXAMPLE_MAINS)

# tests/e2e/: the whole cycle in QEMU on a card from make-sdcard (cycle.sh; pull.sh, an update
# main asks the recovery to pull from a URL; torture.sh with 10 power cuts); part of check. make
# torture: K power cuts alone.
e2e: all recovery $(EXAMPLE_MAINS)
	@tests/run e2e
torture: all recovery $(EXAMPLE_MAINS)
	@TORTURE_K=$(or $(K),100) TORTURE_JOBS=$(or $(JOBS),2) tests/run tests/e2e/torture.sh

# The same whole cycle (tests/e2e/cycle.sh) on board qemu-arm64: U-Boot on QEMU's aarch64 virt
# machine. Not part of check: under TCG the cycle alone takes about 5 minutes on two cores, and
# a first build of the arm64 recovery and example mains (bootstrapped through qemu-user) about
# 10 more (docs/sdcard.md).
ARM64_EXAMPLE_MAINS := $(B)/qemu-arm64/example-main-v1.ext4 $(B)/qemu-arm64/example-main-v2.ext4 \
	$(B)/qemu-arm64/example-main-v3-broken.ext4
e2e-arm64: all $(ARM64_EXAMPLE_MAINS)
	@$(MAKE) --no-print-directory recovery BOARD=qemu-arm64
	@E2E_BOARD=qemu-arm64 tests/run tests/e2e/cycle.sh

# tests/image/*.sh: the image's contents, its packing reproduced, a boot in QEMU (about a minute).
test-image: recovery
	@RECOVERY_BOARD=$(BOARD) tests/run image

# tests/boot/*.sh: boot attempts in QEMU (TCG), a few minutes; part of check too. The aarch64
# test cross-builds its own `lifeboat` into $(B)/arm64 (make CC=aarch64-linux-gnu-gcc B=...).
test-boot: all
	@tests/run boot

test-boot-arm64: all
	@tests/run tests/boot/arm64-uboot.sh

fuzz: $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
	@fuzz/run $(FUZZ_SECONDS)

bench: all
	@bench/run

# The demo installs what it needs first (a fresh machine), then builds, then runs.
DEMO_NEEDS := all recovery $(EXAMPLE_MAIN)-v1.ext4 $(EXAMPLE_MAIN)-v2.ext4
demo:
	@scripts/install-deps
	@$(MAKE) --no-print-directory $(DEMO_NEEDS)
	@scripts/demo --boot recovery
demo-main:
	@scripts/install-deps
	@$(MAKE) --no-print-directory $(DEMO_NEEDS)
	@scripts/demo --boot main
demo-core: all
	@scripts/demo-core

format:
	clang-format -i cgi/*.c cgi/*.h cgi/lib/*.c cgi/lib/*.h tests/unit/*.c tests/unit/*.h fuzz/*.c

lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 -D_GNU_SOURCE \
		-DLB_VERSION='"$(VERSION)"' -Icgi cgi

clean:
	rm -rf $(B)/obj $(B)/san $(B)/bin $(B)/cgi-bin $(B)/lib $(B)/test $(B)/fuzz $(B)/fuzz-replay $(B)/arm64
