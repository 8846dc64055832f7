'use strict';
// A stand-in for the recovery's lighttpd + CGI programs (docs/http-api.md), just enough for the
// browser test: it serves the page and answers /api/status, /api/info, /api/install,
// /api/reboot and /api/log. /api/install reads the body slowly (mock.rate bytes per second), so
// upload progress is visible, and checks it starts with LIFEBOAT. It never writes anything.
//
// Test hooks on the returned `mock` object:
//   mock.failNext = {status, code, message, target}   the next install answers this error
//   mock.cutUploads(0.4)                               the next install drops the connection at 40 %;
//                                                      Chromium silently resends a POST whose
//                                                      connection was reset (~50 times, then
//                                                      ERR_TOO_MANY_RETRIES), so resends are cut at
//                                                      once until mock.cutUploads(null)
//   mock.requests                                      every POST: {path, contentType, bytes, complete, body}
const http = require('http');
const fs = require('fs');

// What overlay/etc/lighttpd/lifeboat.conf adds to every response: the page must work under them
// (inline script and style only; "no-referrer" makes a form's POST carry "Origin: null").
const SECURITY_HEADERS = {
	'X-Content-Type-Options': 'nosniff',
	'X-Frame-Options': 'DENY',
	'Referrer-Policy': 'no-referrer',
	'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
};
const RUNNING = new Set(['receiving', 'verifying', 'writing', 'syncing', 'read-back']);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Math.floor(Date.now() / 1000);

function startMock({ pagePath, recoveryVersion, compatible, rate }) {
	const mock = {
		rate: rate || 4e6,
		failNext: null,
		cutAt: null,
		cuts: 0,
		requests: [],
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
	mock.settle = () => {
		if (mock.current && RUNNING.has(mock.status.state)) {
			mock.current.lose();
			mock.current.req.socket.destroy();
		}
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
		const entry = { path: '/api/install', contentType: type, bytes: 0, complete: false };
		mock.requests.push(entry);
		const drainThen = (fn) => { req.resume(); req.on('end', fn); };
		if (type !== 'application/octet-stream' && type !== 'multipart/form-data')
			return drainThen(() => error(res, 415, 'unsupported-media-type', 'send the bundle as application/octet-stream'));
		if (crossSite(req))
			return drainThen(() => error(res, 403, 'cross-site', 'cross-site request refused: open the page at the device\'s address'));
		// A previous upload whose connection is gone has ended, as on the device, where lighttpd
		// signals the install program at once; only a live one makes this request "busy".
		// (Chromium silently resends a POST whose connection was cut, right after the cut.)
		if (RUNNING.has(mock.status.state) && mock.current && mock.current.req.socket.destroyed)
			mock.current.lose();
		if (RUNNING.has(mock.status.state))
			return drainThen(() => error(res, 409, 'busy', 'another install is running (' + mock.status.message + '): wait for it'));

		const total = Number(req.headers['content-length']) || 0;
		const started = Date.now();
		const cutAt = mock.cutAt === null ? null : mock.cuts++ === 0 ? mock.cutAt : 0;
		const failNext = mock.failNext;
		mock.failNext = null;
		let head = Buffer.alloc(0), meta = null, notBundle = false, lost = false;
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
			progress: { received: 0, bundle_size: total, written: 0, readback: 0, image_total: 0, percent: 0, mbps: 0, eta_seconds: 0 },
			bundle: null,
		});
		logLine('install: receiving ' + total + ' bytes');

		req.on('data', (chunk) => {
			entry.bytes += chunk.length;
			if (head.length < 65536) head = Buffer.concat([head, chunk.subarray(0, 65536 - head.length)]);
			if (!meta && !notBundle && head.length >= 20) {
				if (type === 'application/octet-stream' && head.subarray(0, 8).toString('latin1') !== 'LIFEBOAT') {
					notBundle = true;
				} else {
					const m = parseHead(head);
					if (m && (head.length >= m.header || head.length >= 65536)) meta = m;
				}
				if (meta) mock.status.bundle = { version: meta.version, compatible: meta.compatible };
			}
			const secs = (Date.now() - started) / 1000 || 0.001;
			const mbps = entry.bytes / secs / 1e6;
			const p = mock.status.progress;
			p.received = entry.bytes;
			p.percent = total ? Math.floor((entry.bytes * 100) / total) : 0;
			p.mbps = Math.round(mbps * 10) / 10;
			p.eta_seconds = total && mbps ? Math.round((total - entry.bytes) / 1e6 / mbps) : 0;
			if (meta && entry.bytes > meta.header && !notBundle) {
				p.image_total = meta.imageBytes;
				p.written = Math.min(meta.imageBytes, Math.round((entry.bytes / total) * meta.imageBytes));
				if (mock.status.state !== 'writing') setState('writing', 'writing version ' + meta.version);
			}
			if (cutAt !== null && entry.bytes >= total * cutAt) {
				connectionLost(true);
				req.socket.destroy();
				return;
			}
			req.pause();
			setTimeout(() => req.resume(), (chunk.length / mock.rate) * 1000);
		});

		req.on('close', () => connectionLost(false));

		req.on('end', async () => {
			if (lost) return;
			entry.complete = true;
			const fail = (status, code, message, target) => {
				setState('failed', message, { last_result: { result: 'failed', code, message, time: now() } });
				if (target === 'invalid') mock.status.main = { state: 'invalid' };
				logLine('install failed: ' + code + ': ' + message);
				error(res, status, code, message, target);
			};
			if (notBundle || !meta)
				return fail(400, 'not-a-bundle', 'this is not a Lifeboat bundle (no LIFEBOAT magic): choose the .lifeboat file', 'untouched');
			if (failNext) return fail(failNext.status, failNext.code, failNext.message, failNext.target);
			setState('syncing', 'syncing version ' + meta.version);
			await sleep(400);
			setState('read-back', 'reading back version ' + meta.version);
			mock.status.progress.readback = meta.imageBytes;
			await sleep(600);
			const seconds = Math.round((Date.now() - started) / 100) / 10;
			setState('done', 'installed version ' + meta.version, {
				last_result: { result: 'installed', version: meta.version, message: 'installed version ' + meta.version, time: now() },
				main: { state: 'valid', version: meta.version, compatible: meta.compatible, installed_at: now() },
			});
			logLine('install: installed version ' + meta.version + ' in ' + seconds + ' s');
			send(res, 200, { result: 'installed', version: meta.version, compatible: meta.compatible, image_bytes: meta.imageBytes, seconds });
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
			'POST /api/reboot': () => reboot(req, res),
		};
		const route = routes[req.method + ' ' + path];
		if (route) return route();
		req.resume();
		if (Object.keys(routes).some((k) => k.endsWith(' ' + path)))
			return error(res, 405, 'method-not-allowed', req.method + ' is not allowed here');
		error(res, 404, 'not-found', 'no such page: ' + path);
	});

	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const url = 'http://127.0.0.1:' + server.address().port;
			resolve({
				url,
				mock,
				close: () => new Promise((r) => { server.closeAllConnections && server.closeAllConnections(); server.close(() => r()); }),
			});
		});
	});
}

module.exports = { startMock };
