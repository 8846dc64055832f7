/* GET /api/info: what this device is: board, targets and their sizes, trusted keys, memory,
 * network addresses. Everything a remote operator needs to pick the right bundle. */
#include "cgi-common.h"
#include "lib/io.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/signature.h"
#include "lib/version.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/fs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static long long target_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return (long long)st.st_size;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t size;
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0)
		return -1;
	return (long long)size;
}

static long long meminfo(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void print_addresses(void)
{
	struct ifaddrs *list;
	bool first = true;
	printf(",\"addresses\":[");
	if (getifaddrs(&list) == 0) {
		for (struct ifaddrs *a = list; a; a = a->ifa_next) {
			if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK))
				continue;
			char buf[INET6_ADDRSTRLEN] = "";
			int family = a->ifa_addr->sa_family;
			if (family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr, buf, sizeof(buf));
			else if (family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)a->ifa_addr)->sin6_addr, buf,
					  sizeof(buf));
			else
				continue;
			printf("%s{\"interface\":", first ? "" : ",");
			lb_json_string(stdout, a->ifa_name);
			printf(",\"family\":\"%s\",\"address\":\"%s\"}", family == AF_INET ? "ipv4" : "ipv6", buf);
			first = false;
		}
		freeifaddrs(list);
	}
	printf("]");
}

int main(void)
{
	struct cgi_request req;
	struct lb_config cfg;

	cgi_request_from_env(&req);
	if (cgi_refuse_unless_get(&req) || !cgi_load_config(&cfg))
		return 0;

	cgi_begin(200);
	printf("{\"compatible\":");
	lb_json_string(stdout, cfg.compatible);
	printf(",\"recovery_version\":\"%s\",\"allow_unsigned\":%s,\"readback\":%s,\"targets\":[", LB_VERSION,
	       cfg.allow_unsigned ? "true" : "false", cfg.readback ? "true" : "false");
	for (unsigned i = 0; i < cfg.target_count; i++) {
		printf("%s{\"role\":\"%s\",\"path\":", i ? "," : "", cfg.target_role[i]);
		lb_json_string(stdout, cfg.target_path[i]);
		printf(",\"size\":%lld}", target_size(cfg.target_path[i]));
	}
	printf("],\"keys\":[");
	struct lb_keyring *keys = NULL;
	struct lb_error err = {0};
	if (lb_keyring_load(cfg.keyring, &keys, &err) == 0) {
		for (unsigned i = 0; i < lb_keyring_count(keys); i++) {
			char id[LB_SHA256_HEX_SIZE + 1];
			lb_keyring_key_id(keys, i, id);
			printf("%s{\"file\":", i ? "," : "");
			lb_json_string(stdout, lb_keyring_key_file(keys, i));
			printf(",\"id\":\"%s\"}", id);
		}
		lb_keyring_free(keys);
	}
	printf("]");
	_cleanup_free_ char *mem = NULL;
	lb_read_file("/proc/meminfo", 16 << 10, &mem, NULL);
	printf(",\"memory\":{\"total_kib\":%lld,\"available_kib\":%lld}", meminfo(mem, "MemTotal:"),
	       meminfo(mem, "MemAvailable:"));
	print_addresses();
	printf("}\n");
	return 0;
}
