#!/usr/bin/env node
// A WebSocket upload client for the tests (docs/http-api.md, "Uploading over a WebSocket"): the
// handshake at URL/api/install?size=N, the file as masked binary frames with the socket's
// backpressure respected (memory bounded for any size), pings answered, and the server's one
// text message printed on stdout. Node's own modules only.
//
//   node tests/ws-upload.js URL FILE [--origin ORIGIN] [--slice BYTES] [--cut-at BYTES]
//                          [--pause-at BYTES] [--size N] [--extra BYTES] [--header 'NAME: VALUE']
//                          [--timing FILE]
//
// --size declares another size than the file's; --extra sends that many bytes more than the
// file; --header adds a request header to the handshake; --cut-at destroys the connection after
// that many bytes of payload; --pause-at stops sending there and holds the connection open until
// the process is killed; --timing writes the seconds from the request's start to the message
// into FILE (node's own start left out, as curl's time_total leaves out curl's).
// Exit: 0 a message came, 2 the handshake was refused (status and body printed), 3 the
// connection ended without a message.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const { frameHeader } = require('./ws-frame.js');

const args = process.argv.slice(2);
const opt = { origin: null, slice: 1 << 20, cutAt: -1, pauseAt: -1, size: -1, extra: 0, headers: [], timing: null };
const pos = [];
for (let i = 0; i < args.length; i++) {
	const a = args[i];
	if (a === '--origin') opt.origin = args[++i];
	else if (a === '--slice') opt.slice = Number(args[++i]);
	else if (a === '--cut-at') opt.cutAt = Number(args[++i]);
	else if (a === '--pause-at') opt.pauseAt = Number(args[++i]);
	else if (a === '--size') opt.size = Number(args[++i]);
	else if (a === '--extra') opt.extra = Number(args[++i]);
	else if (a === '--header') opt.headers.push(args[++i]);
	else if (a === '--timing') opt.timing = args[++i];
	else pos.push(a);
}
if (pos.length !== 2) {
	process.stderr.write('usage: ws-upload.js URL FILE [--origin O] [--slice B] [--cut-at B] [--pause-at B] [--size N] [--extra B] [--header H] [--timing F]\n');
	process.exit(64);
}
const [base, file] = pos;
const fileSize = fs.statSync(file).size;
const declared = opt.size >= 0 ? opt.size : fileSize;
const url = new URL('/api/install?size=' + declared, base);

// One client frame: FIN set, masked as RFC 6455 5.3 requires of a client.
function frame(opcode, payload) {
	const n = payload.length;
	const head = frameHeader(opcode, n, true);
	const mask = crypto.randomBytes(4);
	// Masked four bytes at a time over a fresh (aligned) buffer: a byte loop would make this
	// client, not the device, the slowest part of a 1 GiB upload.
	const body = Buffer.from(new ArrayBuffer(n));
	payload.copy(body);
	// (the word is read in the host's order, so that each byte meets its own mask byte)
	const words = new Uint32Array(body.buffer, 0, n >> 2);
	const m32 = os.endianness() === 'LE' ? mask.readUInt32LE(0) : mask.readUInt32BE(0);
	for (let i = 0; i < words.length; i++) words[i] ^= m32;
	for (let i = words.length * 4; i < n; i++) body[i] ^= mask[i & 3];
	return Buffer.concat([head, mask, body]);
}

const headers = {
	Connection: 'Upgrade',
	Upgrade: 'websocket',
	'Sec-WebSocket-Version': '13',
	'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
};
if (opt.origin) headers.Origin = opt.origin;
for (const h of opt.headers) {
	const colon = h.indexOf(':');
	headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
}
const started = process.hrtime.bigint();
const req = http.request(url, { headers });

req.on('response', (res) => {
	let body = '';
	res.on('data', (d) => (body += d));
	res.on('end', () => {
		process.stdout.write('HTTP ' + res.statusCode + ' ' + body);
		process.exit(2);
	});
});

req.on('upgrade', (res, socket, rest) => {
	let got = false, sent = 0, stopped = false;
	let input = Buffer.alloc(0);
	// Server frames: unmasked, final; a text message is the answer, pings get pongs.
	const receive = (d) => {
		input = Buffer.concat([input, d]);
		for (;;) {
			if (input.length < 2) return;
			let n = input[1] & 127, off = 2;
			if (n === 126) { if (input.length < 4) return; n = input.readUInt16BE(2); off = 4; }
			else if (n === 127) { if (input.length < 10) return; n = Number(input.readBigUInt64BE(2)); off = 10; }
			if (input.length < off + n) return;
			const op = input[0] & 15, payload = input.subarray(off, off + n);
			input = input.subarray(off + n);
			if (op === 1) {
				got = true;
				stopped = true;
				if (opt.timing) fs.writeFileSync(opt.timing, (Number(process.hrtime.bigint() - started) / 1e9).toFixed(3) + '\n');
				process.stdout.write(payload.toString() + '\n');
			} else if (op === 9) {
				socket.write(frame(10, payload));
			} else if (op === 8) {
				// The exchange is over once the close is answered: the server ends the TCP
				// connection when it is done (RFC 6455 7.1.1), which need not be waited for.
				socket.write(frame(8, payload.subarray(0, 2)), () => process.exit(got ? 0 : 3));
			}
		}
	};
	socket.on('data', receive);
	// A server that answers at once (busy) sends its message and close in the same packets as the
	// 101: they arrive here, and no 'data' event would follow for them.
	receive(rest);
	socket.on('close', () => process.exit(got ? 0 : 3));
	socket.on('error', () => {});

	const chunks = fs.createReadStream(file, { highWaterMark: opt.slice });
	const send = (buf) => {
		if (opt.cutAt >= 0 && sent + buf.length >= opt.cutAt) {
			socket.write(frame(2, buf.subarray(0, opt.cutAt - sent)), () => socket.destroy());
			stopped = true;
			chunks.destroy();
			return;
		}
		if (opt.pauseAt >= 0 && sent + buf.length >= opt.pauseAt) {
			socket.write(frame(2, buf.subarray(0, opt.pauseAt - sent)));
			process.stderr.write('ws-upload: paused at byte ' + opt.pauseAt + '\n');
			stopped = true;
			chunks.destroy();
			return;
		}
		sent += buf.length;
		if (!socket.write(frame(2, buf))) {
			chunks.pause();
			socket.once('drain', () => chunks.resume());
		}
	};
	// The last slice goes out with the --extra bytes in the same frame: one frame running past
	// the declared size.
	let held = null;
	chunks.on('data', (buf) => {
		if (stopped) return chunks.destroy();
		if (held) send(held);
		held = buf;
	});
	chunks.on('end', () => {
		if (!stopped && held) send(Buffer.concat([held, Buffer.alloc(opt.extra, 0x78)]));
	});
});

req.on('error', (e) => {
	process.stderr.write('ws-upload: ' + e.message + '\n');
	process.exit(3);
});
req.end();
