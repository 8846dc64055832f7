#include "kiosk-model.h"
#include "lib/cmdline.h"
#include "lib/io.h"
#include "lib/macro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void kiosk_mdns_name(const char *hostname, char *ret, size_t size)
{
	static const char suffix[] = "-recovery";
	size_t n = strcspn(hostname, ".");
	bool has_suffix =
	    n >= strlen(suffix) && !strncmp(hostname + n - strlen(suffix), suffix, strlen(suffix));
	snprintf(ret, size, "%.*s%s.local", (int)n, hostname, has_suffix ? "" : suffix);
}

static int address_rank(const struct kiosk_address *a)
{
	return a->family == AF_INET ? 0 : a->link_local ? 2 : 1;
}

static int address_cmp(const struct kiosk_address *a, const struct kiosk_address *b)
{
	int r = address_rank(a) - address_rank(b);
	if (r == 0)
		r = strcmp(a->interface, b->interface);
	return r ? r : memcmp(a->raw, b->raw, sizeof(a->raw));
}

bool kiosk_model_add_address(struct kiosk_model *m, const char *interface, int family, const void *addr)
{
	struct kiosk_address a = {.family = family};
	if (family == AF_INET) {
		const struct in_addr *in = addr;
		if ((ntohl(in->s_addr) >> 24) == 127)
			return true;
	} else if (family == AF_INET6) {
		const struct in6_addr *in6 = addr;
		if (IN6_IS_ADDR_LOOPBACK(in6))
			return true;
		a.link_local = IN6_IS_ADDR_LINKLOCAL(in6);
	} else
		return true;
	if (!inet_ntop(family, addr, a.text, sizeof(a.text)))
		return true;
	memcpy(a.raw, addr, family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr));
	snprintf(a.interface, sizeof(a.interface), "%s", interface);

	unsigned i = 0;
	while (i < m->address_count && address_cmp(&m->addresses[i], &a) < 0)
		i++;
	if (i < m->address_count && address_cmp(&m->addresses[i], &a) == 0)
		return true;
	if (m->address_count == KIOSK_ADDRESSES_MAX)
		return false;
	memmove(&m->addresses[i + 1], &m->addresses[i], (m->address_count - i) * sizeof(a));
	m->addresses[i] = a;
	m->address_count++;
	return true;
}

static void gather_addresses(struct kiosk_model *m)
{
	struct ifaddrs *list;
	if (getifaddrs(&list) < 0)
		return;
	for (struct ifaddrs *a = list; a; a = a->ifa_next) {
		/* an address on an interface that is down cannot be reached */
		if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP))
			continue;
		const void *addr;
		if (a->ifa_addr->sa_family == AF_INET)
			addr = &((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr;
		else if (a->ifa_addr->sa_family == AF_INET6)
			addr = &((const struct sockaddr_in6 *)(const void *)a->ifa_addr)->sin6_addr;
		else
			continue;
		if (!kiosk_model_add_address(m, a->ifa_name, a->ifa_addr->sa_family, addr))
			break;
	}
	freeifaddrs(list);
}

static bool lock_held(const char *state_dir)
{
	/* lb_state_locked() creates the lock file when it is missing; the kiosk runs as root and
	 * must not leave a root-owned lock that the web appliance's user cannot open. No file:
	 * nobody holds it. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", state_dir, LB_STATE_LOCK_FILE);
	return access(path, F_OK) == 0 && lb_state_locked(state_dir);
}

static void gather_state(struct kiosk_model *m, const char *state_dir)
{
	m->state_error = lb_state_load(state_dir, &m->state);
	if (!lb_state_active(&m->state))
		return;
	m->install_running = lock_held(state_dir);
	if (m->install_running)
		return;
	/* The install may have ended between reading the file and looking at the lock: read again
	 * before calling it dead. */
	m->state_error = lb_state_load(state_dir, &m->state);
	if (lb_state_active(&m->state) && !lock_held(state_dir)) {
		m->state.state = LB_PHASE_FAILED;
		snprintf(m->state.message, sizeof(m->state.message),
			 "the install stopped unexpectedly (its process ended): upload the bundle again");
	}
}

static void gather_boot(struct kiosk_model *m, const struct kiosk_sources *src)
{
	m->boot_configured = src->boot || src->boot_error;
	if (src->boot_error) {
		snprintf(m->boot_error, sizeof(m->boot_error), "%s", src->boot_error);
		return;
	}
	if (!src->boot)
		return;
	struct lb_boot_state s;
	struct lb_error err = {0};
	if (lb_boot_load(src->boot, &s, &err) < 0) {
		snprintf(m->boot_error, sizeof(m->boot_error), "%s", err.message);
		return;
	}
	for (unsigned i = 0; i < s.order_count; i++)
		if (!strcmp(s.order[i], m->boot_slot))
			m->main_in_order = true;
	/* the status file starts empty at every boot of the recovery: what main holds is then
	 * known from the boot state, as /api/status reports it */
	lb_state_merge_boot(&m->state, &s, m->boot_slot);
	m->main_attempts_left = lb_boot_attempts_left(&s, m->boot_slot);
	m->oneshot_recovery = s.oneshot_recovery;
}

void kiosk_model_gather(struct kiosk_model *m, const struct kiosk_sources *src)
{
	*m = (struct kiosk_model){.version = LB_VERSION, .now = (int64_t)time(NULL)};
	snprintf(m->boot_slot, sizeof(m->boot_slot), "%s", src->cfg->boot_slot);
	m->boot_attempts = src->cfg->boot_attempts ? src->cfg->boot_attempts : LB_BOOT_ATTEMPTS_DEFAULT;

	if (gethostname(m->hostname, sizeof(m->hostname)) < 0)
		m->hostname[0] = '\0';
	m->hostname[sizeof(m->hostname) - 1] = '\0';
	if (src->mdns_name)
		snprintf(m->mdns_name, sizeof(m->mdns_name), "%s", src->mdns_name);
	else
		kiosk_mdns_name(m->hostname[0] ? m->hostname : "lifeboat", m->mdns_name,
				sizeof(m->mdns_name));
	gather_addresses(m);

	_cleanup_free_ char *cmdline = lb_cmdline_read(src->cmdline_path ? src->cmdline_path : KIOSK_CMDLINE_DEFAULT);
	if (cmdline)
		m->reason = lb_boot_reason_parse(cmdline, m->reason_word, sizeof(m->reason_word));
	char boot_id[40], log_dir[LB_CONFIG_VALUE_MAX];
	lb_boot_id(boot_id, sizeof(boot_id));
	lb_log_dir(src->cfg->log_file, log_dir, sizeof(log_dir));
	lb_boot_failure_load(log_dir, boot_id, &m->last_failure);
	lb_self_check_load(src->cfg->state_dir, &m->image_check);

	gather_state(m, src->cfg->state_dir);
	gather_boot(m, src);
}

bool kiosk_model_install_active(const struct kiosk_model *m)
{
	return m->install_running && lb_state_active(&m->state);
}

bool kiosk_model_main_bootable(const struct kiosk_model *m, char *ret_why, size_t size)
{
	const char *why = NULL;
	char buf[LB_ERROR_MESSAGE_MAX + 64];
	if (kiosk_model_install_active(m))
		why = "an install is running";
	else if (!strcmp(m->state.main_state, "invalid"))
		why = "the last install did not finish";
	else if (m->boot_configured && m->boot_error[0]) {
		snprintf(buf, sizeof(buf), "the boot state cannot be read: %s", m->boot_error);
		why = buf;
	} else if (m->boot_configured && !m->main_in_order)
		why = "main is not in the boot order";
	else if (m->boot_configured && m->main_attempts_left == 0)
		why = "main has no boot attempts left";
	if (size)
		snprintf(ret_why, size, "%s", why ? why : "");
	return !why;
}
