#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool url_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

int lb_url_parse(const char *text, struct lb_url *ret, struct lb_error *err)
{
	struct lb_url u = {0};
	size_t len = strlen(text);
	const char *p;
	if (len > LB_URL_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL is longer than %u bytes", LB_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if (!url_char_ok((unsigned char)text[i]))
			return lb_error_set(err, EINVAL, LB_E_USAGE,
					    "the URL holds a space or control character at position %zu: "
					    "percent-encode it (%%20)",
					    i + 1);
	if (!strncasecmp(text, "http://", 7)) {
		p = text + 7;
		u.port = 80;
	} else if (!strncasecmp(text, "https://", 8)) {
		p = text + 8;
		u.https = true;
		u.port = 443;
	} else
		return lb_error_set(err, EINVAL, LB_E_USAGE, "'%.64s' is not an http:// or https:// URL", text);

	size_t authority = strcspn(p, "/?#");
	if (memchr(p, '@', authority))
		return lb_error_set(err, EINVAL, LB_E_USAGE,
				    "the URL holds a user name or password (user@host): give the server's "
				    "address alone, credentials are not supported");
	const char *host = p, *host_end, *port = NULL;
	if (*p == '[') {
		const char *close = memchr(p, ']', authority);
		if (!close)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL's IPv6 address lacks its ']'");
		host = p + 1;
		host_end = close;
		if (close + 1 < p + authority) {
			if (close[1] != ':')
				return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL has text after its IPv6 address");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(p, ':', authority);
		host_end = colon ? colon : p + authority;
		port = colon ? colon + 1 : NULL;
	}
	size_t host_len = (size_t)(host_end - host);
	if (host_len == 0)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL has no host");
	if (host_len > LB_URL_HOST_MAX)
		return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL's host is longer than %u bytes", LB_URL_HOST_MAX);
	memcpy(u.host, host, host_len);
	if (port) {
		const char *end = p + authority;
		unsigned long v = 0;
		if (port == end)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL has a ':' but no port");
		for (const char *c = port; c < end; c++) {
			if (*c < '0' || *c > '9' || (v = v * 10 + (unsigned long)(*c - '0')) > 65535)
				return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL's port is not a number from 1 to 65535");
		}
		if (v == 0)
			return lb_error_set(err, EINVAL, LB_E_USAGE, "the URL's port is not a number from 1 to 65535");
		u.port = (uint16_t)v;
	}
	p += authority;
	size_t target_len = strcspn(p, "#");
	if (target_len == 0 || *p != '/') {
		u.target[0] = '/';
		memcpy(u.target + 1, p, target_len); /* "?query" alone, or nothing */
	} else
		memcpy(u.target, p, target_len);
	*ret = u;
	return 0;
}

int lb_url_resolve(const struct lb_url *base, const char *location, struct lb_url *ret, struct lb_error *err)
{
	char text[LB_URL_MAX * 2 + LB_URL_HOST_MAX + 16];
	const char *scheme = base->https ? "https" : "http";
	char authority[LB_URL_HOST_MAX + 16];
	snprintf(authority, sizeof(authority), strchr(base->host, ':') ? "[%s]:%u" : "%s:%u", base->host,
		 base->port);
	if (!strncasecmp(location, "http://", 7) || !strncasecmp(location, "https://", 8))
		snprintf(text, sizeof(text), "%s", location);
	else if (location[0] == '/' && location[1] == '/')
		snprintf(text, sizeof(text), "%s:%s", scheme, location);
	else if (location[0] == '/')
		snprintf(text, sizeof(text), "%s://%s%s", scheme, authority, location);
	else {
		size_t dir = strcspn(base->target, "?");
		while (dir > 0 && base->target[dir - 1] != '/')
			dir--;
		snprintf(text, sizeof(text), "%s://%s%.*s%s", scheme, authority, (int)dir, base->target, location);
	}
	if (strlen(text) > LB_URL_MAX)
		return lb_error_set(err, EINVAL, LB_E_READ, "the server redirects to a URL longer than %u bytes",
				    LB_URL_MAX);
	return lb_url_parse(text, ret, err);
}

void lb_url_format(const struct lb_url *u, char *ret, size_t size)
{
	snprintf(ret, size, strchr(u->host, ':') ? "%s://[%s]:%u%s" : "%s://%s:%u%s", u->https ? "https" : "http",
		 u->host, u->port, u->target);
}
