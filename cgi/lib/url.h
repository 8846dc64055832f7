/* The URLs a bundle is pulled from: http:// and https:// with a host name or address, an
 * optional port and a path. A strict parser, since a URL comes from a request file or an HTTP
 * request body and its parts end up in a request line and a TLS handshake. */
#pragma once

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_URL_MAX 2048
#define LB_URL_HOST_MAX 255

struct lb_url {
	bool https;
	char host[LB_URL_HOST_MAX + 1]; /* a name, an IPv4 address, or an IPv6 one without brackets */
	uint16_t port;
	char target[LB_URL_MAX + 1]; /* path and query, "/" at least: the request line's target */
};

/* Parses "http[s]://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]" (the fragment is dropped). Refused:
 * other schemes, user:password@ (credentials do not belong in a request file or a log), spaces
 * and control characters, an empty host, a port outside 1..65535, more than LB_URL_MAX bytes. */
int lb_url_parse(const char *text, struct lb_url *ret, struct lb_error *err);

/* A redirect's Location against the URL it came from: an absolute URL, "//host/path" or
 * "/path" (anything else, relative to the directory of `base`'s path). */
int lb_url_resolve(const struct lb_url *base, const char *location, struct lb_url *ret, struct lb_error *err);

/* The URL as text, for logs and messages ("http://host:port/path"). */
void lb_url_format(const struct lb_url *u, char *ret, size_t size);
