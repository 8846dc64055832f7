/* What the recovery kiosk shows, gathered from the system: the status file the install CGI
 * writes, the network addresses, why the recovery was booted (the kernel command line) and the
 * last failed boot kept in the log directory, the boot state, the recovery image's self-check.
 * Gathering is kept apart from drawing (kiosk-view.h), so that the screen can be tested on
 * models made up in a test. */
#pragma once

#include "lib/boot-reason.h"
#include "lib/bootctl.h"
#include "lib/config.h"
#include "lib/self-check.h"
#include "lib/state.h"

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define KIOSK_ADDRESSES_MAX 16
#define KIOSK_HOSTNAME_MAX 64
#define KIOSK_CMDLINE_DEFAULT "/proc/cmdline"

struct kiosk_address {
	char interface[IF_NAMESIZE];
	int family; /* AF_INET or AF_INET6 */
	bool link_local;
	char text[INET6_ADDRSTRLEN];
	unsigned char raw[16]; /* the address in network order, for sorting */
};

struct kiosk_model {
	const char *version; /* the recovery's */
	char hostname[KIOSK_HOSTNAME_MAX + 1];
	char mdns_name[KIOSK_HOSTNAME_MAX + 32]; /* "<hostname>-recovery.local" */
	unsigned address_count;
	struct kiosk_address addresses[KIOSK_ADDRESSES_MAX]; /* sorted: see kiosk_model_add_address() */
	enum lb_boot_reason reason; /* lifeboat.reason= on the kernel command line (boot-reason.h) */
	char reason_word[LB_BOOT_REASON_WORD_MAX]; /* the value, for LB_BOOT_REASON_OTHER */
	struct lb_boot_failure last_failure;	   /* the last failed boot, kept in the log directory */
	struct lb_self_check image_check;	   /* the recovery image's self-check this boot */

	struct lb_state state; /* an install whose process died reads as failed */
	int state_error;       /* negative errno when the status file could not be read */
	bool install_running;  /* an install holds the lock */

	bool boot_configured;
	char boot_error[LB_ERROR_MESSAGE_MAX]; /* not empty when the boot state could not be read */
	char boot_slot[16];
	unsigned boot_attempts; /* what a good main gets: "failed to boot N times" */
	bool main_in_order;	/* the slot is in the boot order */
	unsigned main_attempts_left;
	bool oneshot_recovery;

	int64_t now; /* epoch seconds */
};

/* Where the sources are. */
struct kiosk_sources {
	const struct lb_config *cfg;
	const struct lb_boot *boot; /* NULL: no boot control */
	const char *boot_error;	    /* why boot control could not be opened, or NULL */
	const char *cmdline_path;   /* the kernel command line, KIOSK_CMDLINE_DEFAULT */
	const char *mdns_name;	    /* NULL: kiosk_mdns_name() of the host name */
};

/* Gathers everything anew. Sources that cannot be read leave their part empty, with the
 * error in the model: the kiosk always has something to show. */
void kiosk_model_gather(struct kiosk_model *m, const struct kiosk_sources *src);

/* Adds an address (struct in_addr or struct in6_addr), keeping the list sorted as the kiosk
 * lists them (IPv4, then IPv6 with link-local ones last; by interface, then address) and free
 * of duplicates, so that the screen does not jump when the kernel reports them in another
 * order. Loopback addresses are skipped. False when the list is full. */
bool kiosk_model_add_address(struct kiosk_model *m, const char *interface, int family, const void *addr);

/* "<hostname>-recovery.local" (the host part of the name only; a name that already ends in
 * "-recovery" gets just ".local"). */
void kiosk_mdns_name(const char *hostname, char *ret, size_t size);

/* True while an install is running: the lock is held and the state is a phase before done. */
bool kiosk_model_install_active(const struct kiosk_model *m);

/* Whether Enter may reboot into main, as /api/reboot decides it: no install running, main not
 * known to be invalid, and with boot control, main in the boot order with attempts left. When
 * not, `ret_why` says why in a few words, for the technician. */
bool kiosk_model_main_bootable(const struct kiosk_model *m, char *ret_why, size_t size);
