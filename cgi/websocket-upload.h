/* An upload over a WebSocket (docs/http-api.md, "Uploading over a WebSocket"): GET
 * /api/install?size=N upgraded by lighttpd's `cgi.upgrade`, the bundle as N bytes of binary
 * messages, and the answer a POST would get sent back as one text message,
 * {"status":CODE,"reply":BODY}, before a close frame. Why it exists: lighttpd passes an
 * upgraded connection to the CGI in memory, while it spools a POST body over 64 KiB through
 * temporary files (docs/web-appliance.md).
 *
 * The endpoint's code stays the POST's: after the handshake, whatever the program prints as its
 * HTTP answer (cgi_begin, cgi_error, printf) is captured and sent as the text message when it
 * exits. Program layer, beside cgi-common. */
#pragma once

#include "cgi-common.h"
#include "lib/input.h"
#include "lib/websocket.h"

#include <stdatomic.h>
#include <stdbool.h>

/* Whether the request asks for a WebSocket: a GET with "Upgrade: websocket". */
bool cgi_websocket_requested(void);

/* Completes the handshake of an upload of `size` bytes (from ?size=N, stored in
 * r->content_length), or refuses it with a complete HTTP answer and returns false: 403 for
 * another site's page, 400 for a missing size or a malformed handshake. From a true return on,
 * standard output is captured for the closing text message. */
bool cgi_websocket_accept(struct cgi_request *r);

/* An input of the upload's payload: exactly r->content_length bytes of binary messages read from
 * the request body, pings answered on the way. A client that answers no ping for 10 s of
 * silence ends it with -ETIMEDOUT; `cancel` set (cgi_cancel_on_termination) with -ECONNABORTED.
 * `reader` must outlive the input. */
void cgi_websocket_input(struct lb_ws_reader *reader, const struct cgi_request *r, const atomic_bool *cancel,
			 struct lb_input *ret);

/* Sends a ping when none went out for a while: the connection is in lighttpd's response phase,
 * which ends one idle for server.max-write-idle. Cheap to call often, from any thread. */
void cgi_websocket_keepalive(void);
