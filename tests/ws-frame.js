'use strict';
// The header of one final WebSocket frame (RFC 6455 5.2), for the tests' two ends of the
// protocol: tests/ws-upload.js (a client: masked) and tests/browser/mock-server.js (a server:
// unmasked). The masking key, when there is one, follows the header.
function frameHeader(opcode, length, masked) {
	const head = Buffer.alloc(length < 126 ? 2 : length < 65536 ? 4 : 10);
	const mask = masked ? 0x80 : 0;
	head[0] = 0x80 | opcode;
	if (length < 126) {
		head[1] = mask | length;
	} else if (length < 65536) {
		head[1] = mask | 126;
		head.writeUInt16BE(length, 2);
	} else {
		head[1] = mask | 127;
		head.writeBigUInt64BE(BigInt(length), 2);
	}
	return head;
}

module.exports = { frameHeader };
