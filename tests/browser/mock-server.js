'use strict';
// A stand-in for the recovery's lighttpd + CGI programs (docs/http-api.md), just enough for the
// browser test: it serves the page and answers /api/status, /api/info, /api/install-plan,
// /api/install (whole or ?delta=1, as a POST, or whole over a WebSocket: GET ?size=N upgraded,
// docs/http-api.md), /api/reboot and /api/log. /api/install reads the body slowly
// (mock.rate bytes per second), so upload progress is visible, and checks it starts with
// LIFEBOAT. It never writes anything: main is a model, the SHA-256 of the chunk each chunk-sized
// place of each image's target holds (mock.disk), which installs update chunk by chunk as their
// frames arrive, so that a cut install leaves the chunks before the cut for the next plan.
//
// Test hooks on the returned `mock` object:
//   mock.failNext = {status, code, message, target}   the next install answers this error
//   mock.cutUploads(0.4)                               the next install drops the connection at 40 %;
//                                                      Chromium silently resends a POST whose
//                                                      connection was reset (~50 times, then
//                                                      ERR_TOO_MANY_RETRIES), so resends are cut at
//                                                      once until mock.cutUploads(null)
//   mock.requests                                      every POST and WebSocket upload: {path, contentType,
//                                                      bytes, complete, body, via: 'post' | 'websocket', at (ms)};
//                                                      a delta install adds {delta, status, sha256, ranges}
//   mock.websocket = false                             WebSocket handshakes get a plain 404, as from a
//                                                      recovery or proxy without them (settle restores it)
//   mock.websocket = 'late'                            a handshake reaches the device late (a slow tether):
//                                                      the browser hears nothing, but an install starts and
//                                                      ends as lost (at mock.lateEndedAt) mock.lateEndMs after
//                                                      the browser's close, or mock.lateGiveUpMs after the
//                                                      handshake; a POST meanwhile is busy, and for
//                                                      mock.lateLockMs after its end (its lock still held)
//   mock.upgrades                                      every WebSocket handshake asked: {url, accepted}
//   mock.disk = {ROLE: [sha256 hex or null, ...]}      what main holds, per chunk place (settle empties it)
//   mock.planDelay = ms                                how long a plan takes (the device reads main)
//   mock.planMissing = true                            /api/install-plan answers 404, as an older recovery
//   mock.cutNextDelta = 0.5                            the next delta install drops the connection at 50 %
//   mock.plans                                         every plan answered, in order
const http = require('http');
const fs = require('fs');
const stream = require('stream');
const { frameHeader } = require('../ws-frame.js');

// What overlay/etc/lighttpd/lifeboat.conf adds to every response: the page must work under them
// (inline script and style only; "no-referrer" makes a form's POST carry "Origin: null").
const SECURITY_HEADERS = {
	'X-Content-Type-Options': 'nosniff',
	'X-Frame-Options': 'DENY',
	'Referrer-Policy': 'no-referrer',
	'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
};
const RUNNING = new Set(['receiving', 'verifying', 'copying', 'writing', 'syncing', 'read-back']);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Math.floor(Date.now() / 1000);
const crypto = require('crypto');

// A bundle's header (preamble, manifest, signature block; docs/bundle-format.md), enough to plan:
// every chunk with its frame's place in the bundle. null when it is not a whole header.
function readManifest(buf) {
	if (buf.length < 20 || buf.subarray(0, 8).toString('latin1') !== 'LIFEBOAT') return null;
	const format = buf.readUInt32BE(8), msize = buf.readUInt32BE(12), ssize = buf.readUInt32BE(16);
	const headerSize = 20 + msize + ssize;
	if (buf.length < headerSize) return null;
	const text = buf.subarray(20, 20 + msize).toString('latin1');
	const lines = text.split('\n');
	const images = [];
	let at = headerSize;
	for (let i = 0; i < lines.length; i++) {
		const m = /^image (.+)$/.exec(lines[i]);
		if (!m) continue;
		const get = (k) => Number((lines.slice(i, i + 6).find((l) => l.startsWith(k + ' ')) || '').slice(k.length + 1));
		const img = { role: m[1], size: get('size'), chunkSize: get('chunk-size'), chunks: [] };
		const count = get('chunks');
		i += 6;
		for (let n = 0; n < count; n++, i++) {
			const length = Math.min(img.chunkSize, img.size - n * img.chunkSize);
			if (lines[i] === 'zero') { img.chunks.push({ zero: true, length }); continue; }
			const [sha, frame] = lines[i].split(' ');
			img.chunks.push({ sha, frame: Number(frame), at, length });
			at += Number(frame);
		}
		i--;
		images.push(img);
	}
	return { format, headerSize, header: buf.subarray(0, headerSize), bundleSize: at, images,
		manifestSha: crypto.createHash('sha256').update(text).digest('hex'),
		version: (/^version (.*)$/m.exec(text) || [])[1], compatible: (/^compatible (.*)$/m.exec(text) || [])[1],
		imageBytes: images.reduce((a, img) => a + img.size, 0) };
}

// What the device would plan (docs/http-api.md, /api/install-plan): a chunk is reused where
// main holds its SHA-256, in place or elsewhere; the rest is sent, header first, ranges merged.
function planFor(b, disk) {
	const plan = { manifest_sha256: b.manifestSha, bundle_size: b.bundleSize, header_size: b.headerSize,
		send_bytes: 0, image_bytes: b.imageBytes, reused_bytes: 0, chunks: 0, send: 0, in_place: 0, moved: 0, zero: 0,
		seconds: 0, ranges: [[0, b.headerSize]] };
	const actions = [];
	for (const img of b.images) {
		const held = disk[img.role] || [];
		img.chunks.forEach((c, i) => {
			plan.chunks++;
			if (c.zero) return plan.zero++;
			const action = held[i] === c.sha ? 'in_place' : held.includes(c.sha) ? 'moved' : 'send';
			plan[action]++;
			actions.push({ role: img.role, i, sha: c.sha, length: c.length, frame: c.frame, action });
			if (action !== 'send') return (plan.reused_bytes += c.length);
			const last = plan.ranges[plan.ranges.length - 1];
			if (last[0] + last[1] === c.at) last[1] += c.frame;
			else plan.ranges.push([c.at, c.frame]);
		});
	}
	plan.send_bytes = plan.ranges.reduce((a, r) => a + r[1], 0);
	return { plan, actions };
}

// WebSocket (RFC 6455), as much as the upload needs: the server's frames (unmasked, never
// fragmented) and a decoder of the client's.
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const WS = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

function wsFrame(opcode, payload) {
	return Buffer.concat([frameHeader(opcode, payload.length, false), payload]);
}

// A decoder of a client's frames, fed the bytes as TCP delivers them. A data frame's payload is
// handed on piece by piece as it arrives (`on.data`), so a 1 MiB message flows like a POST body;
// a control frame whole (`on.control(opcode, payload)`). A frame a client must not send (unmasked,
// a text message, an unknown opcode, a control frame over 125 bytes) calls `on.error(why)` and
// stops the decoder.
function wsDecoder(on) {
	let head = Buffer.alloc(0), frame = null, failed = false;
	const fail = (why) => { failed = true; on.error(why); };
	return function feed(chunk) {
		while (!failed) {
			if (!frame) {
				head = head.length ? Buffer.concat([head, chunk]) : chunk;
				chunk = Buffer.alloc(0);
				if (head.length < 2) return;
				const len7 = head[1] & 0x7f;
				const size = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
				if (head.length < size) return;
				const opcode = head[0] & 0x0f;
				if (!(head[1] & 0x80)) return fail('an unmasked frame from the client');
				if (opcode === WS.text) return fail('a text message (the upload is binary)');
				if (!Object.values(WS).includes(opcode)) return fail('an unknown opcode ' + opcode);
				const length = len7 === 126 ? head.readUInt16BE(2) : len7 === 127 ? Number(head.readBigUInt64BE(2)) : len7;
				if (opcode >= WS.close && length > 125) return fail('a control frame of ' + length + ' bytes');
				frame = { opcode, left: length, mask: Buffer.from(head.subarray(size - 4, size)), at: 0, control: [] };
				chunk = head.subarray(size);
				head = Buffer.alloc(0);
			}
			const n = Math.min(frame.left, chunk.length);
			if (n > 0) {
				const piece = Buffer.from(chunk.subarray(0, n));
				for (let i = 0; i < n; i++) piece[i] ^= frame.mask[(frame.at + i) & 3];
				frame.at += n;
				frame.left -= n;
				chunk = chunk.subarray(n);
				if (frame.opcode >= WS.close) frame.control.push(piece);
				else on.data(piece);
			}
			if (frame.left === 0) {
				const done = frame;
				frame = null;
				if (done.opcode >= WS.close) on.control(done.opcode, Buffer.concat(done.control));
			}
			if (!chunk.length && (frame || !head.length)) return;
		}
	};
}

function startMock({ pagePath, recoveryVersion, compatible, rate }) {
	const mock = {
		rate: rate || 4e6,
		failNext: null,
		cutAt: null,
		cuts: 0,
		requests: [],
		disk: {},
		plan: null,
		plans: [],
		planning: false,
		planDelay: 300,
		planMissing: false,
		cutNextDelta: null,
		websocket: true,
		lateEndMs: 4000,
		lateGiveUpMs: 22000,
		lateLockMs: 0,
		lateEndedAt: 0,
		upgrades: [],
		log: [],
		status: {
			state: 'idle',
			message: 'waiting for a bundle',
			progress: null,
			bundle: null,
			last_result: { result: 'installed', version: '1.0', message: 'installed version 1.0', time: now() - 86400 },
			main: { state: 'valid', version: '1.0', compatible, installed_at: now() - 86400 },
			recovery_version: recoveryVersion,
			updated: now(),
		},
	};
	mock.cutUploads = (fraction) => { mock.cutAt = fraction; mock.cuts = 0; };
	// Between cases: an upload still running (Chromium resends a cut POST on its own, even after
	// the case ended) is cut and recorded as lost, so that each case starts from an idle device.
	// Main then holds something else than the test's bundles, and no plan is stored.
	let lateInstallEnd = null; // ends the install a late handshake started (lateHandshake)
	mock.settle = () => {
		if (mock.current && RUNNING.has(mock.status.state)) {
			mock.current.lose();
			mock.current.req.socket.destroy();
		}
		if (lateInstallEnd) lateInstallEnd();
		mock.disk = {};
		mock.plan = null;
		mock.planMissing = false;
		mock.planDelay = 300;
		mock.cutNextDelta = null;
		mock.websocket = true;
		mock.lateLockMs = 0;
	};
	const logLine = (s) => mock.log.push(new Date().toISOString() + ' ' + s);

	function setState(state, message, extra) {
		Object.assign(mock.status, { state, message, updated: now() }, extra || {});
	}

	function send(res, status, obj, type) {
		const body = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
		res.writeHead(status, Object.assign({
			'Content-Type': type || 'application/json',
			'Content-Length': Buffer.byteLength(body),
			'Cache-Control': 'no-store',
		}, SECURITY_HEADERS));
		res.end(body);
	}
	const error = (res, status, code, message, target) =>
		send(res, status, { error: target ? { code, message, target } : { code, message } });

	// docs/http-api.md, "Cross-site protection".
	function crossSite(req) {
		const origin = req.headers.origin;
		if (origin !== undefined && origin !== 'http://' + req.headers.host && origin !== 'https://' + req.headers.host)
			return true;
		return req.headers['sec-fetch-site'] === 'cross-site';
	}

	function parseHead(head) {
		const text = head.toString('latin1');
		const start = text.indexOf('LIFEBOAT');
		if (start < 0 || head.length < start + 20) return null;
		const msize = head.readUInt32BE(start + 12), ssize = head.readUInt32BE(start + 16);
		const manifest = text.slice(start + 20, start + 20 + msize);
		const field = (k) => (manifest.match(new RegExp('^' + k + ' (.*)$', 'm')) || [])[1];
		let imageBytes = 0;
		for (const m of manifest.matchAll(/^size (\d+)$/gm)) imageBytes += Number(m[1]);
		return { header: start + 20 + msize + ssize, version: field('version'), compatible: field('compatible'), imageBytes };
	}

	function install(req, res) {
		const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
		const delta = /[?&]delta=1(&|$)/.test(req.url);
		const entry = { path: '/api/install', contentType: type, bytes: 0, complete: false, via: req.websocket ? 'websocket' : 'post', at: Date.now() };
		if (delta) Object.assign(entry, { delta: true, status: 0, sha256: null, ranges: null });
		mock.requests.push(entry);
		// An early answer: a POST's body is read first (browsers resend a POST whose connection
		// was reset under it); a WebSocket client hears it at once and stops sending.
		const drainThen = (fn) => { req.resume(); if (req.websocket) fn(); else req.on('end', fn); };
		const answer = (status, code, message) => { entry.status = status; error(res, status, code, message); };
		if (type !== 'application/octet-stream' && (delta || type !== 'multipart/form-data'))
			return drainThen(() => error(res, 415, 'unsupported-media-type', 'send the bundle as application/octet-stream'));
		if (crossSite(req))
			return drainThen(() => error(res, 403, 'cross-site', 'cross-site request refused: open the page at the device\'s address'));
		// A previous upload whose connection is gone has ended, as on the device, where lighttpd
		// signals the install program at once; only a live one makes this request "busy".
		// (Chromium silently resends a POST whose connection was cut, right after the cut.)
		if (RUNNING.has(mock.status.state) && mock.current && mock.current.req.socket.destroyed)
			mock.current.lose();
		if (RUNNING.has(mock.status.state) || mock.planning || Date.now() < mock.lateEndedAt + mock.lateLockMs)
			return drainThen(() => answer(409, 'busy', 'another install is running (' + mock.status.message + '): wait for it'));
		// A plan is used once: any install discards it.
		const planned = mock.plan;
		mock.plan = null;
		if (delta && !planned)
			return drainThen(() => answer(409, 'no-plan', 'there is no plan for this delta upload: ask for a plan first'));
		if (delta && JSON.stringify(planned.disk) !== JSON.stringify(mock.disk))
			return drainThen(() => answer(409, 'plan-stale', 'main changed since the plan: ask for a new plan and send again'));

		const total = Number(req.headers['content-length']) || 0;
		const started = Date.now();
		let cutAt = mock.cutAt === null ? null : mock.cuts++ === 0 ? mock.cutAt : 0;
		if (delta) {
			cutAt = mock.cutNextDelta;
			mock.cutNextDelta = null;
		}
		const failNext = mock.failNext;
		mock.failNext = null;
		const hash = crypto.createHash('sha256');
		let head = Buffer.alloc(0), meta = null, notBundle = false, lost = false, wrongHeader = false, copying = false;
		// The chunks this body carries, each with the body offset where its frame ends: a chunk
		// is on main once its whole frame has arrived.
		let incoming = null, next = 0;
		const write = (c) => { (mock.disk[c.role] = mock.disk[c.role] || [])[c.i] = c.sha; };
		// The upload ended early: record it at once, so that an immediate retry is not "busy".
		// (`cut`: the mock cuts on purpose; under load the whole body may have arrived by then.)
		const connectionLost = (cut) => {
			if (lost || (req.complete && cut !== true)) return;
			lost = true;
			const percent = total ? Math.floor((entry.bytes * 100) / total) : 0;
			const message = 'the upload stopped at ' + percent + ' % (connection lost): upload again';
			setState('failed', message, {
				last_result: { result: 'failed', code: 'truncated', message, time: now() },
			});
			if (meta && entry.bytes > meta.header) mock.status.main = { state: 'invalid' };
			logLine('install: ' + message);
		};
		mock.current = { req, lose: () => connectionLost(true) };
		setState('receiving', 'receiving a bundle', {
			progress: { received: 0, bundle_size: delta ? planned.bundle.bundleSize : total, written: 0, readback: 0,
				image_total: 0, percent: 0, mbps: 0, eta_seconds: 0 },
			bundle: null,
		});
		if (delta) {
			entry.ranges = planned.plan.ranges;
			Object.assign(mock.status.progress, { delta: true, send_total: planned.plan.send_bytes, reused: planned.plan.reused_bytes, copied: 0 });
		}
		logLine('install: receiving ' + total + ' bytes' + (delta ? ' (delta)' : ''));

		req.on('data', (chunk) => {
			// After a cut, a WebSocket's decoded body may still hold a piece or two.
			if (lost) return;
			entry.bytes += chunk.length;
			hash.update(chunk);
			if (head.length < 65536) head = Buffer.concat([head, chunk.subarray(0, 65536 - head.length)]);
			if (!meta && !notBundle && head.length >= 20) {
				if (type === 'application/octet-stream' && head.subarray(0, 8).toString('latin1') !== 'LIFEBOAT') {
					notBundle = true;
				} else {
					const m = parseHead(head);
					if (m && (head.length >= m.header || head.length >= 65536)) meta = m;
				}
				if (meta) mock.status.bundle = { version: meta.version, compatible: meta.compatible };
				if (meta && !incoming) {
					const b = type === 'application/octet-stream' && readManifest(head);
					if (delta) {
						wrongHeader = !b || !b.header.equals(planned.bundle.header);
						let end = planned.bundle.headerSize;
						incoming = planned.actions.filter((a) => a.action === 'send').map((a) => Object.assign({ end: (end += a.frame) }, a));
					} else if (b) {
						incoming = [];
						for (const img of b.images)
							img.chunks.forEach((c, i) => { if (!c.zero) incoming.push({ role: img.role, i, sha: c.sha, length: c.length, end: c.at + c.frame }); });
					}
				}
			}
			const secs = (Date.now() - started) / 1000 || 0.001;
			const mbps = entry.bytes / secs / 1e6;
			const p = mock.status.progress;
			p.received = entry.bytes;
			p.percent = total ? Math.floor((entry.bytes * 100) / total) : 0;
			p.mbps = Math.round(mbps * 10) / 10;
			p.eta_seconds = total && mbps ? Math.round((total - entry.bytes) / 1e6 / mbps) : 0;
			let pause = (chunk.length / mock.rate) * 1000;
			if (meta && entry.bytes > meta.header && !notBundle && !wrongHeader) {
				p.image_total = meta.imageBytes;
				// The chunks main already holds elsewhere are copied into place first.
				const moved = delta ? planned.actions.filter((a) => a.action === 'moved') : [];
				if (delta && !copying && !moved.length) {
					copying = true;
					setState('writing', 'writing version ' + meta.version);
				} else if (delta && !copying) {
					copying = true;
					setState('copying', 'copying ' + moved.length + ' chunks of version ' + meta.version + ' into place');
					// The page polls the status once a second: a phase shorter than two polls may
					// fall between them, so the copy lasts long enough to be seen.
					const copyMs = 4000; // a phase the page's 1 s status poll sees even on a slow machine
					moved.forEach((a, k) => setTimeout(() => { if (!lost) { write(a); p.copied += a.length; p.written += a.length; } },
						((k + 1) * copyMs) / (moved.length + 1)));
					pause += copyMs;
					setTimeout(() => { if (!lost) setState('writing', 'writing version ' + meta.version); }, copyMs);
				} else if (!delta) {
					p.written = Math.min(meta.imageBytes, Math.round((entry.bytes / total) * meta.imageBytes));
					if (mock.status.state !== 'writing') setState('writing', 'writing version ' + meta.version);
				}
				for (; incoming && next < incoming.length && incoming[next].end <= entry.bytes; next++) {
					write(incoming[next]);
					if (delta) p.written += incoming[next].length;
				}
			}
			if (cutAt !== null && entry.bytes >= total * cutAt) {
				connectionLost(true);
				req.socket.destroy();
				return;
			}
			req.pause();
			setTimeout(() => req.resume(), pause);
		});

		req.on('close', () => connectionLost(false));

		req.on('end', async () => {
			if (lost) return;
			entry.complete = true;
			entry.sha256 = hash.digest('hex');
			const fail = (status, code, message, target) => {
				setState('failed', message, { last_result: { result: 'failed', code, message, time: now() } });
				if (target === 'invalid') mock.status.main = { state: 'invalid' };
				logLine('install failed: ' + code + ': ' + message);
				entry.status = status;
				error(res, status, code, message, target);
			};
			if (notBundle || !meta)
				return fail(400, 'not-a-bundle', 'this is not a Lifeboat bundle (no LIFEBOAT magic): choose the .lifeboat file', 'untouched');
			if (wrongHeader)
				return fail(409, 'no-plan', 'this delta upload is not of the planned bundle: ask for a plan first', 'untouched');
			if (delta && entry.bytes !== planned.plan.send_bytes)
				return fail(400, 'truncated', 'the delta body is ' + entry.bytes + ' bytes, the plan says ' + planned.plan.send_bytes, 'invalid');
			if (failNext) return fail(failNext.status, failNext.code, failNext.message, failNext.target);
			setState('syncing', 'syncing version ' + meta.version);
			await sleep(400);
			setState('read-back', 'reading back version ' + meta.version);
			mock.status.progress.written = meta.imageBytes;
			mock.status.progress.readback = meta.imageBytes;
			await sleep(600);
			// Main now holds the whole bundle, every chunk in its place.
			const b = readManifest(head);
			if (b) for (const img of b.images) mock.disk[img.role] = img.chunks.map((c) => c.sha || null);
			const seconds = Math.round((Date.now() - started) / 100) / 10;
			setState('done', 'installed version ' + meta.version, {
				last_result: { result: 'installed', version: meta.version, message: 'installed version ' + meta.version, time: now() },
				main: { state: 'valid', version: meta.version, compatible: meta.compatible, installed_at: now() },
			});
			logLine('install: installed version ' + meta.version + ' in ' + seconds + ' s');
			entry.status = 200;
			send(res, 200, { result: 'installed', version: meta.version, compatible: meta.compatible, image_bytes: meta.imageBytes, seconds });
		});
	}

	// docs/http-api.md, /api/install-plan: the header in, the plan out, stored for one install.
	function installPlan(req, res) {
		const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
		const entry = { path: '/api/install-plan', contentType: type, bytes: 0, status: 0 };
		mock.requests.push(entry);
		const parts = [];
		req.on('data', (d) => { parts.push(d); entry.bytes += d.length; });
		req.on('end', async () => {
			const answer = (status, code, message) => { entry.status = status; error(res, status, code, message); };
			if (mock.planMissing) return answer(404, 'not-found', 'no such page: /api/install-plan');
			if (type !== 'application/octet-stream') return answer(415, 'unsupported-media-type', 'send the bundle header as application/octet-stream');
			if (crossSite(req)) return answer(403, 'cross-site', 'cross-site request refused');
			if (RUNNING.has(mock.status.state) && mock.current && mock.current.req.socket.destroyed)
				mock.current.lose();
			if (RUNNING.has(mock.status.state) || mock.planning)
				return answer(409, 'busy', 'an install or another plan is running: wait for it');
			const body = Buffer.concat(parts);
			const b = readManifest(body);
			if (!b || b.headerSize !== body.length)
				return answer(400, 'not-a-bundle', 'the body is not exactly a bundle header: send the bundle\'s first header_size bytes');
			if (b.compatible !== compatible)
				return answer(403, 'incompatible', 'the bundle is for "' + b.compatible + '", this device is "' + compatible + '"');
			mock.planning = true;
			await sleep(mock.planDelay);
			mock.planning = false;
			const { plan, actions } = planFor(b, mock.disk);
			plan.seconds = mock.planDelay / 1000;
			mock.plan = { plan, actions, bundle: b, disk: JSON.parse(JSON.stringify(mock.disk)) };
			mock.plans.push(plan);
			logLine('install-plan: version ' + b.version + ': send ' + plan.send_bytes + ' of ' + plan.bundle_size + ' bytes');
			entry.status = 200;
			send(res, 200, { ok: true, plan });
		});
	}

	function reboot(req, res) {
		const entry = { path: '/api/reboot', contentType: (req.headers['content-type'] || '').split(';')[0].trim(), body: '' };
		mock.requests.push(entry);
		req.setEncoding('utf8');
		req.on('data', (d) => { entry.body += d; });
		req.on('end', () => {
			if (entry.contentType !== 'application/json') return error(res, 415, 'unsupported-media-type', 'send {"target":"main"} as application/json');
			if (crossSite(req)) return error(res, 403, 'cross-site', 'cross-site request refused');
			let target;
			try { target = JSON.parse(entry.body).target; } catch (e) { /* bad JSON: target stays undefined */ }
			if (target !== 'main' && target !== 'recovery') return error(res, 400, 'bad-request', 'target must be "main" or "recovery"');
			if (target === 'main' && mock.status.main.state !== 'valid')
				return error(res, 409, 'main-invalid', 'main does not hold a complete system: install a bundle first');
			logLine('reboot into ' + target);
			send(res, 202, { result: 'rebooting', target });
		});
	}

	// mock.websocket = 'late': the handshake's answer never reaches the browser, which gives up
	// and closes. The install it started on the device is busy until it ends as a lost upload:
	// mock.lateEndMs after the browser's close (the device hears of it late too), or when the
	// device's own limit of silence runs out, counted from a handshake that arrived late
	// (mock.lateGiveUpMs after it here; Firefox keeps the unanswered connection open).
	function lateHandshake(socket) {
		mock.current = null;
		setState('receiving', 'receiving a bundle', { progress: null });
		let timer = null, ended = false;
		const end = () => {
			clearTimeout(timer);
			if (ended) return; // once: a later case's install is not this one's
			ended = true;
			lateInstallEnd = null;
			socket.destroy();
			if (mock.status.state !== 'receiving') return;
			const message = 'the upload stopped at 0 % (connection lost): upload again';
			setState('failed', message, { last_result: { result: 'failed', code: 'truncated', message, time: now() } });
			mock.lateEndedAt = Date.now();
			logLine('install: ' + message);
		};
		lateInstallEnd = end;
		timer = setTimeout(end, mock.lateGiveUpMs);
		socket.on('error', () => {});
		socket.on('end', () => socket.destroy());
		socket.resume(); // to hear the browser's close
		socket.on('close', () => { if (!ended) { clearTimeout(timer); timer = setTimeout(end, mock.lateEndMs); } });
	}

	// A whole bundle over a WebSocket (docs/http-api.md, GET /api/install?size=N): refused as a
	// plain HTTP answer before the handshake, or upgraded and handed to install() as if it were a
	// POST: a stream of the binary messages' payload stands for the body, and the answer install()
	// writes goes back as one text message {status, reply}, then a close frame.
	function upgrade(req, socket, head) {
		const attempt = { url: req.url, accepted: false };
		mock.upgrades.push(attempt);
		const refuse = (status, code, message) => {
			const body = JSON.stringify({ error: { code, message } });
			socket.end('HTTP/1.1 ' + status + ' ' + http.STATUS_CODES[status] + '\r\nContent-Type: application/json\r\n' +
				'Content-Length: ' + Buffer.byteLength(body) + '\r\nConnection: close\r\n\r\n' + body);
		};
		const path = req.url.split('?')[0];
		if (path !== '/api/install' || !mock.websocket) return refuse(404, 'not-found', 'no such page: ' + path);
		if (mock.websocket === 'late') return lateHandshake(socket);
		if (crossSite(req)) return refuse(403, 'cross-site', 'cross-site request refused: open the page at the device\'s address');
		const size = Number((/[?&]size=([0-9]+)(&|$)/.exec(req.url) || [])[1]) || 0;
		const key = req.headers['sec-websocket-key'];
		if (!size || /[?&]delta=1(&|$)/.test(req.url))
			return refuse(400, 'bad-request', 'a WebSocket upload needs ?size=N, the whole bundle\'s size (deltas go as POSTs)');
		if (!key || req.headers['sec-websocket-version'] !== '13')
			return refuse(400, 'bad-request', 'not a valid WebSocket handshake');
		const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
		socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
			'Sec-WebSocket-Accept: ' + accept + '\r\n\r\n');
		attempt.accepted = true;

		// The body install() reads; reading on resumes the socket (TCP backpressure, so that
		// mock.rate slows the browser's sending as it slows a POST).
		const body = new stream.Readable({ read() { socket.resume(); } });
		Object.assign(body, { method: 'POST', url: req.url, socket, complete: false, websocket: true,
			headers: Object.assign({}, req.headers, { 'content-type': 'application/octet-stream', 'content-length': String(size) }) });
		let received = 0, answered = false;
		const res = {
			statusCode: 0,
			writeHead(status) { this.statusCode = status; return this; },
			end(payload) {
				if (answered || socket.destroyed) return;
				answered = true;
				let reply = String(payload);
				try { reply = JSON.parse(reply); } catch (e) { /* not JSON: sent as a string */ }
				socket.write(wsFrame(WS.text, Buffer.from(JSON.stringify({ status: this.statusCode, reply }))));
				socket.end(wsFrame(WS.close, Buffer.from([0x03, 0xe8]))); // 1000, normal closure
			},
		};
		const protocolError = (why) => {
			res.writeHead(400).end(JSON.stringify({ error: { code: 'read-failed', message: 'the upload is not a valid WebSocket stream: ' + why } }));
			body.destroy();
		};
		const feed = wsDecoder({
			data(piece) {
				if (answered) return; // an early answer went out: the client stops sending
				received += piece.length;
				if (received > size)
					return res.writeHead(400).end(JSON.stringify({ error: { code: 'trailing-data', target: 'untouched',
						message: 'more than the announced ' + size + ' bytes arrived: send the bundle\'s size as ?size=N' } }));
				if (!body.push(piece)) socket.pause();
				if (received === size) {
					body.complete = true;
					body.push(null);
				}
			},
			control(opcode, payload) {
				if (opcode === WS.ping) socket.write(wsFrame(WS.pong, payload));
				// A close before the whole bundle is a cut connection, after the answer the end.
				if (opcode === WS.close) socket.destroy();
			},
			error: protocolError,
		});
		socket.on('data', feed);
		socket.on('end', () => socket.destroy());
		socket.on('error', () => socket.destroy());
		// Gone before the whole bundle arrived: the body ends as a cut POST's does. Once it is
		// whole, the install finishes on its own, as on the device.
		socket.on('close', () => { if (!body.complete) body.destroy(); });
		if (head && head.length) feed(head);
		install(body, res);
	}

	const server = http.createServer((req, res) => {
		const path = req.url.split('?')[0];
		const routes = {
			'GET /': () => send(res, 200, fs.readFileSync(pagePath), 'text/html; charset=utf-8'),
			'GET /index.html': () => send(res, 200, fs.readFileSync(pagePath), 'text/html; charset=utf-8'),
			'GET /api/status': () => send(res, 200, mock.status),
			'GET /api/info': () => send(res, 200, {
				compatible, recovery_version: recoveryVersion,
				targets: [{ role: 'rootfs', path: '/dev/mmcblk0p3', size: 4294967296 }],
				keys: [], memory: { total_kib: 1000000, available_kib: 800000 },
				addresses: [{ interface: 'eth0', address: '192.168.2.2' }],
			}),
			'GET /api/log': () => send(res, 200, mock.log.join('\n') + '\n', 'text/plain; charset=utf-8'),
			'POST /api/install': () => install(req, res),
			'POST /api/install-plan': () => installPlan(req, res),
			'POST /api/reboot': () => reboot(req, res),
		};
		const route = routes[req.method + ' ' + path];
		if (route) return route();
		req.resume();
		if (Object.keys(routes).some((k) => k.endsWith(' ' + path)))
			return error(res, 405, 'method-not-allowed', req.method + ' is not allowed here');
		error(res, 404, 'not-found', 'no such page: ' + path);
	});

	// Upgraded sockets leave the server's bookkeeping: close() ends them itself.
	const upgraded = new Set();
	server.on('upgrade', (req, socket, head) => {
		upgraded.add(socket);
		socket.on('close', () => upgraded.delete(socket));
		upgrade(req, socket, head);
	});

	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const url = 'http://127.0.0.1:' + server.address().port;
			resolve({
				url,
				mock,
				close: () => new Promise((r) => {
					for (const socket of upgraded) socket.destroy();
					server.closeAllConnections && server.closeAllConnections();
					server.close(() => r());
				}),
			});
		});
	});
}

module.exports = { startMock, readManifest, RUNNING };
