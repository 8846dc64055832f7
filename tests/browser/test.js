'use strict';
// Browser test of the recovery's web page (overlay/srv/lifeboat/www/index.html), driven through
// playwright-core in Debian's Chromium (/usr/bin/chromium; no browser is ever downloaded).
//
//   node tests/browser/test.js                  the page against the mock server (mock-server.js)
//   LIFEBOAT_URL=http://127.0.0.1:8080 node ... the page as served by a real recovery server
//
// Prints "ok /browser/NAME" or "FAIL /browser/NAME: why" per case; exits non-zero on failure.
// Screenshots go to build/screenshots/ (Firefox's to build/screenshots/firefox/). Environment:
// BROWSER=firefox with FIREFOX (default /usr/bin/firefox-esr), CHROMIUM (default /usr/bin/chromium),
// LIFEBOAT_URL (no mock is started then; the browser reaches the server through a throttling
// relay; the bundles are built for the server's board from /api/info, and the server must accept
// unsigned bundles and run a harmless reboot command).
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { spawnSync } = require('child_process');
const { chromium, firefox } = require('playwright-core');
const { startMock, readManifest, RUNNING } = require('./mock-server');

const ROOT = path.resolve(__dirname, '..', '..');
const PAGE = path.join(ROOT, 'overlay/srv/lifeboat/www/index.html');
const LBB = path.join(ROOT, 'build/bin/lifeboat-bundle');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// BROWSER=firefox drives Debian's Firefox ESR instead, over WebDriver BiDi (playwright's
// "moz-firefox" channel: the stock browser, no patched build).
const FIREFOX = process.env.BROWSER === 'firefox' ? process.env.FIREFOX || '/usr/bin/firefox-esr' : null;
const SHOTS = path.join(ROOT, 'build/screenshots', FIREFOX ? 'firefox' : '');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];
const REAL_URL = (process.env.LIFEBOAT_URL || '').replace(/\/+$/, '');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let failures = 0;
// Against a real server the names say so: /browser/real/NAME.
const PREFIX = '/browser/' + (process.env.LIFEBOAT_URL ? 'real/' : '') + (FIREFOX ? 'firefox/' : '');
const ok = (name, note) => console.log('ok ' + PREFIX + name + (note ? ' # ' + note : ''));
const fail = (name, why) => { failures++; console.log('FAIL ' + PREFIX + name + ': ' + String(why).replace(/\s+/g, ' ').trim()); };
function assert(cond, why) { if (!cond) throw new Error(why); }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(cmd, args) {
	const r = spawnSync(cmd, args, { encoding: 'utf8' });
	if (r.status !== 0) throw new Error(cmd + ' ' + args.join(' ') + ': ' + (r.stderr || r.error || 'status ' + r.status));
	return r.stdout;
}

// The files the cases choose: a bundle (2.0), the raw image itself (not a bundle), a bundle
// with one payload byte flipped (its header is fine, so the page sends it; a real device
// refuses it), version 3.0 made from 2.0's image with five chunks changed and one chunk of it
// copied to another place (a delta from 2.0 sends the five), and a bundle of other data (no
// plan finds any of it, so it goes whole). The damaged bundle is of other data too: a device
// holding 2.0 would find its chunks and never receive the flipped byte.
function makeFiles(dir, compatible) {
	const MiB = 1 << 20;
	const image = (name, data) => {
		const file = path.join(dir, name);
		const fd = fs.openSync(file, 'w');
		fs.writeSync(fd, data); // incompressible, so the upload takes a while
		fs.ftruncateSync(fd, 16 * MiB); // and a zero tail, stored as "zero" chunks
		fs.closeSync(fd);
		return file;
	};
	const bundleOf = (name, img, version) => {
		const out = path.join(dir, name);
		run(LBB, ['create', '--unsigned', '--compatible', compatible, '--version', version,
			'--description', 'Browser test build', '--image', 'rootfs=' + img, '-o', out]);
		return out;
	};
	const data = crypto.randomBytes(12 * MiB);
	const img = image('rootfs.img', data);
	const bundle = bundleOf('companion-2.0.lifeboat', img, '2.0');
	const v3data = Buffer.alloc(14 * MiB);
	data.copy(v3data);
	crypto.randomBytes(5 * MiB).copy(v3data, 4 * MiB);
	data.copy(v3data, 13 * MiB, 0, MiB);
	const v3 = bundleOf('companion-3.0.lifeboat', image('rootfs-3.0.img', v3data), '3.0');
	const other = bundleOf('other-2.0.lifeboat', image('other.img', crypto.randomBytes(12 * MiB)), '2.0');
	const corrupt = path.join(dir, 'companion-2.0-damaged.lifeboat');
	const bytes = fs.readFileSync(other);
	bytes[bytes.length - 1000] ^= 0x55;
	fs.writeFileSync(corrupt, bytes);
	fs.rmSync(other);
	const fresh = bundleOf('fresh-2.0.lifeboat', image('fresh.img', crypto.randomBytes(12 * MiB)), '2.0');
	return { img, bundle, corrupt, v3, fresh };
}

// What main holds once a bundle is installed, as the mock models it.
function diskOf(bundle) {
	const disk = {};
	for (const img of readManifest(fs.readFileSync(bundle)).images) disk[img.role] = img.chunks.map((c) => c.sha || null);
	return disk;
}

// The mock's record of a delta install: complete, and its body exactly the plan's ranges of the
// file, one after the other.
function checkDeltaBody(entry, file) {
	const bytes = fs.readFileSync(file);
	const h = crypto.createHash('sha256');
	let sum = 0;
	for (const [offset, length] of entry.ranges) {
		h.update(bytes.subarray(offset, offset + length));
		sum += length;
	}
	assert(entry.complete && entry.status === 200, 'the delta install ended with HTTP ' + entry.status + (entry.complete ? '' : ', incomplete'));
	assert(entry.bytes === sum && entry.sha256 === h.digest('hex'),
		'the delta body (' + entry.bytes + ' bytes) is not the concatenation of the plan\'s ranges (' + sum + ' bytes)');
}

// What a plan of `bundle` against `disk` must send, computed here apart from the mock: the
// header and the frame of every chunk main holds nowhere.
function expectedSend(bundle, disk) {
	const b = readManifest(fs.readFileSync(bundle));
	let send = b.headerSize;
	for (const img of b.images) {
		const held = new Set(disk[img.role] || []);
		for (const c of img.chunks) if (!c.zero && !held.has(c.sha)) send += c.frame;
	}
	return send;
}

// A real server takes a bundle over loopback in a blink, and Chromium's own upload throttling
// (DevTools) only delays the progress events, not the bytes. So the browser talks to the real
// server through this TCP relay, which passes what the browser sends at `rate` bytes per second
// and what the server answers at full speed (same origin: the Host header names the relay).
function startRelay(target, rate) {
	const net = require('net');
	const { hostname, port } = new URL(target);
	const server = net.createServer((client) => {
		const upstream = net.connect(Number(port) || 80, hostname);
		const close = () => { client.destroy(); upstream.destroy(); };
		client.on('error', close);
		upstream.on('error', close);
		upstream.pipe(client);
		client.on('data', (chunk) => {
			client.pause();
			const resume = () => setTimeout(() => client.resume(), (chunk.length / rate) * 1000);
			if (upstream.write(chunk)) resume(); else upstream.once('drain', resume);
		});
		client.on('end', () => upstream.end());
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve({
			url: 'http://127.0.0.1:' + server.address().port,
			close: () => new Promise((r) => server.close(() => r())),
		}));
	});
}

async function getJSON(url) {
	const r = await fetch(url);
	if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
	return r.json();
}

// Waits (30 s at most) until the real device's cut install has ended and left its session: an
// install over a WebSocket notices a reloaded page only after 10 s of silence.
async function sessionLeft() {
	for (const deadline = Date.now() + 30000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
		const r = await fetch(REAL_URL + '/api/session').catch(() => null);
		if (r && r.ok && !(await r.json()).active) return;
	}
	throw new Error('the cut install did not end within 30 s');
}

// Waits (30 s at most) until the real device runs no install. A reload during an upload whose
// body already sat in the kernel's buffers (the install CGI's 1 MiB pipe) does not cut it: that
// install goes on, and a plan made meanwhile would describe main as it was.
async function installEnded() {
	for (const deadline = Date.now() + 30000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
		const status = await getJSON(REAL_URL + '/api/status').catch(() => null);
		if (status && !RUNNING.has(status.state)) return;
	}
	throw new Error('the install did not end within 30 s');
}

// An upload by POST and its response (Firefox also reports a WebSocket's handshake, a GET).
const isUploadRequest = (q) => new URL(q.url()).pathname === '/api/install' && q.method() !== 'GET';
const isUploadResponse = (r) => isUploadRequest(r.request());

// Firefox reports an upload WebSocket that never opened ("can't establish a connection to the
// server at ws://...", "the connection to ws://... was interrupted") as a page error.
const isUploadSocketNotice = (e) => /\bws:\/\/\S+\/api\/install\?size=/.test(e);

// The WebSockets the page opened to /api/install, as URLs, from its own record (Playwright
// reports no WebSocket events from Firefox over BiDi).
async function uploadSockets(page) {
	return (await page.evaluate(() => window.__lb.sockets)).map((u) => new URL(u)).filter((u) => u.pathname === '/api/install');
}

// A fresh context per case; records page errors, install requests, progress values, phases,
// the page's WebSockets and console messages.
async function openPage(browser, base) {
	const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
	await context.addInitScript(() => {
		window.__lb = { progress: [], phases: [], answers: [], sockets: [] };
		// The answers the page got, {url, via, status, text}: an XHR's status and body (DevTools
		// may drop a response body after a large upload), a WebSocket's message's status and reply.
		const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
		XMLHttpRequest.prototype.open = function (method, url) {
			this.__lbUrl = new URL(url, location.href).href;
			return open.apply(this, arguments);
		};
		XMLHttpRequest.prototype.send = function () {
			this.addEventListener('loadend', () => window.__lb.answers.push({ url: this.__lbUrl, via: 'post', status: this.status, text: this.responseText }));
			return send.apply(this, arguments);
		};
		const PageWebSocket = window.WebSocket;
		window.WebSocket = function (url, protocols) {
			const ws = protocols === undefined ? new PageWebSocket(url) : new PageWebSocket(url, protocols);
			window.__lb.sockets.push(ws.url);
			ws.addEventListener('message', (e) => {
				let m = null;
				try { m = JSON.parse(e.data); } catch (err) { /* recorded as it came */ }
				window.__lb.answers.push({ url: ws.url, via: 'websocket', status: m ? m.status : 0, text: m ? JSON.stringify(m.reply) : String(e.data) });
			});
			return ws;
		};
		window.WebSocket.prototype = PageWebSocket.prototype;
		Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
		document.addEventListener('DOMContentLoaded', () => {
			const bar = document.getElementById('progress-bar');
			const phase = document.getElementById('phase');
			if (bar) {
				new MutationObserver(() => window.__lb.progress.push(Number(bar.getAttribute('aria-valuenow'))))
					.observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] });
			}
			if (phase) {
				new MutationObserver(() => {
					const s = phase.getAttribute('data-state');
					const p = window.__lb.phases;
					if (s && p[p.length - 1] !== s) p.push(s);
				}).observe(phase, { attributes: true, attributeFilter: ['data-state'] });
			}
		});
	});
	const page = await context.newPage();
	page.setDefaultTimeout(20000);
	const t = { context, page, errors: [], installs: [], dialogs: [], console: [] };
	page.on('pageerror', (e) => t.errors.push(e.message));
	page.on('console', (m) => t.console.push(m.type() + ': ' + m.text()));
	page.on('request', (r) => { if (isUploadRequest(r)) t.installs.push(r); });
	page.on('dialog', (d) => { t.dialogs.push(d.message()); d.dismiss(); });
	await page.goto(base + '/');
	// The status has arrived once "This device" shows something.
	await page.waitForFunction(() => document.getElementById('main-version').textContent !== '…');
	return t;
}

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
const text = (page, sel) => page.textContent(sel).then((s) => (s || '').replace(/\s+/g, ' ').trim());
const visible = (page, sel) => page.isVisible(sel);
// The last answer the page got from /api/install: {url, via, status, text}.
const installAnswer = (page) => page.evaluate(() => window.__lb.answers).then((a) =>
	a.filter((x) => new URL(x.url).pathname === '/api/install').pop());
const uploadVia = (page) => page.evaluate(() => document.body.dataset.uploadVia || '(not set)');

// The real server's log names how the last whole upload came ("..., WebSocket)").
async function lastUploadLogged() {
	const r = await fetch(REAL_URL + '/api/log');
	const lines = (await r.text()).split('\n').filter((l) => / from \S+ started \(/.test(l));
	return lines.pop() || '(no upload in the log)';
}

// 1. A bundle: its header shows, it uploads over a WebSocket with visible progress, success,
// reboot.
async function caseInstall(browser, env) {
	const { page, errors, installs } = await openPage(browser, env.base);
	await page.setInputFiles('#file-input', env.files.bundle);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	const info = await text(page, '#bundle-info');
	assert((await text(page, '#bundle-version')) === '2.0', 'version not shown as 2.0: ' + info);
	assert((await text(page, '#bundle-compatible')).includes(env.compatible), 'board ' + env.compatible + ' not shown: ' + info);
	assert(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/.test(await text(page, '#bundle-built')), 'build time not shown as a date: ' + info);
	assert(/rootfs: raw, 16\.0 MiB/.test(await text(page, '#bundle-images')), 'image role and size not shown: ' + info);
	assert((await text(page, '#bundle-signed')).startsWith('NO'), 'unsigned bundle not flagged: ' + info);
	assert(await page.isEnabled('#install-button'), 'install button missing or disabled');
	await shot(page, 'idle-bundle-chosen.png');
	await page.setViewportSize(PHONE);
	await shot(page, 'phone-bundle-chosen.png');
	await page.setViewportSize(DESKTOP);

	await page.click('#install-button');
	await page.waitForFunction(() => {
		const v = Number(document.getElementById('progress-bar').getAttribute('aria-valuenow'));
		return v >= 3 && v <= 97;
	});
	// For the screenshot, a moment later: the rate and the time left show once measured.
	await page.waitForFunction(() => /MB\/s/.test(document.getElementById('progress-detail').textContent) &&
		Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) < 100, null, { timeout: 3000 }).catch(() => {});
	// Give the status poll a moment to report the device's phase for the screenshot.
	await page.waitForFunction(() => document.getElementById('phase').getAttribute('data-state'), null, { timeout: 3000 }).catch(() => {});
	await shot(page, 'progress.png');
	const size = fs.statSync(env.files.bundle).size;
	await page.waitForSelector('#success', { state: 'visible', timeout: 30000 });
	const sockets = await uploadSockets(page);
	assert(sockets.length === 1 && sockets[0].search === '?size=' + size,
		'the WebSockets opened: ' + sockets.join(', ') + '; the bundle has ' + size + ' bytes');
	assert((await uploadVia(page)) === 'websocket', 'the upload went by ' + (await uploadVia(page)));
	assert(installs.length === 0, 'the bundle was also posted: ' + installs.map((q) => q.method() + ' ' + q.url()).join(', '));
	const answer = await installAnswer(page);
	assert(answer && answer.via === 'websocket' && answer.status === 200 && JSON.parse(answer.text).result === 'installed',
		'the WebSocket\'s answer: ' + JSON.stringify(answer));
	const lb = await page.evaluate(() => window.__lb);
	const mid = lb.progress.filter((v) => v > 0 && v < 100);
	assert(mid.length >= 1, 'no intermediate progress value (saw ' + JSON.stringify(lb.progress) + ')');
	assert(lb.phases.some((p) => ['receiving', 'verifying', 'writing', 'syncing', 'read-back'].includes(p)),
		'no install phase shown (saw ' + JSON.stringify(lb.phases) + ')');
	assert((await text(page, '#success')).includes('Installed version 2.0'), 'success screen says: ' + (await text(page, '#success')));
	await page.waitForFunction(() => /2\.0/.test(document.getElementById('main-version').textContent), null, { timeout: 5000 })
		.catch(() => { throw new Error('#main-version does not show 2.0 after the install'); });
	await shot(page, 'success.png');

	if (env.mock) {
		const put = env.mock.requests.filter((q) => q.path === '/api/install');
		assert(put.length === 1 && put[0].via === 'websocket' && put[0].complete && put[0].bytes === size,
			'the mock received ' + JSON.stringify(put));
		// Main held none of it: the page asked for a plan, and sent the whole bundle.
		assert(env.mock.plans.length === 1 && env.mock.plans[0].reused_bytes === 0, 'plans: ' + JSON.stringify(env.mock.plans.length));
	} else {
		const logged = await lastUploadLogged();
		assert(/\(\d+ bytes, WebSocket\)$/.test(logged) && logged.includes('(' + size + ' bytes'), 'the device logged: ' + logged);
	}
	const rebootReq = page.waitForRequest((q) => new URL(q.url()).pathname === '/api/reboot');
	rebootReq.catch(() => {});
	await page.click('#reboot-main');
	const rq = await rebootReq;
	assert(rq.method() === 'POST', 'reboot request is ' + rq.method());
	assert((await rq.headerValue('content-type')) === 'application/json', 'reboot Content-Type is ' + (await rq.headerValue('content-type')));
	// (Playwright has no request bodies from Firefox over BiDi: the Chromium run checks it.)
	if (!FIREFOX) assert(JSON.stringify(JSON.parse(rq.postData() || 'null')) === '{"target":"main"}', 'reboot body is ' + rq.postData());
	await page.waitForFunction(() => /Rebooting…/.test(document.getElementById('reboot-state').textContent));
	if (env.mock) {
		const rb = env.mock.requests.filter((q) => q.path === '/api/reboot');
		assert(rb.length === 1 && JSON.parse(rb[0].body).target === 'main', 'the mock received reboot requests ' + JSON.stringify(rb));
	}
	await shot(page, 'rebooting.png');
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
}

// Chooses `file` and waits for the device's plan: resolves to the answer's HTTP status and plan.
async function choosePlanned(page, file) {
	const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/install-plan' && r.status() !== 409, { timeout: 60000 });
	answer.catch(() => {});
	await page.setInputFiles('#file-input', file);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	const r = await answer;
	const j = await r.json().catch(() => null);
	return { status: r.status(), plan: j && j.plan };
}

// The delta installs that reached the mock (past the plan checks) since request number `from`.
const mockDeltas = (env, from) => env.mock.requests.slice(from).filter((q) => q.path === '/api/install' && q.delta && q.ranges);

// 1b. Main holds 2.0 and 3.0 is chosen: while the device plans, the page says so; then it
// shows what the device holds and what will be sent, sends exactly the plan's ranges to
// /api/install?delta=1, shows the reuse during the install, and 3.0 is installed. Against a
// real server this runs after case 1, so main holds 2.0 there too.
async function caseDelta(browser, env) {
	if (env.mock) {
		env.mock.disk = diskOf(env.files.bundle);
		env.mock.planDelay = 4000; // long enough to see "asking" on a slow machine
	}
	const from = env.mock ? env.mock.requests.length : 0;
	const { page, errors } = await openPage(browser, env.base);
	const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/install-plan' && r.status() !== 409, { timeout: 60000 });
	answer.catch(() => {});
	await page.setInputFiles('#file-input', env.files.v3);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	if (env.mock) {
		await page.waitForSelector('#plan-note[data-state="asking"]');
		assert(await page.isEnabled('#file-input'), 'choosing another file is blocked while the device plans');
		await shot(page, 'delta-planning.png');
	}
	const r = await answer;
	if (!env.mock && r.status() === 404) { await page.context().close(); return 'skipped: the server has no /api/install-plan'; }
	const plan = (await r.json()).plan;
	const size = fs.statSync(env.files.v3).size;
	assert(plan && plan.send_bytes < 0.9 * size && plan.moved >= 1 && plan.bundle_size === size,
		'the plan of 3.0 against 2.0: ' + JSON.stringify(plan && Object.assign({}, plan, { ranges: plan.ranges.length })));
	if (env.mock) {
		const want = expectedSend(env.files.v3, diskOf(env.files.bundle));
		assert(plan.send_bytes === want, 'the plan sends ' + plan.send_bytes + ' bytes, the manifest says ' + want);
	}
	await page.waitForSelector('#plan-note[data-state="delta"]');
	const note = await text(page, '#plan-note');
	const percent = Math.min(100, Math.max(1, Math.round((plan.send_bytes * 100) / size)));
	const mb = (n) => (n / 1e6).toFixed(1) + ' MB';
	assert(note.includes('already holds ' + mb(plan.reused_bytes) + ' of the ' + mb(plan.image_bytes) + ' image') &&
		note.includes('only ' + mb(plan.send_bytes) + ' (' + percent + ' % of the bundle) will be sent'), 'the plan is shown as: ' + note);
	const upload = await text(page, '#bundle-upload');
	assert(upload === mb(plan.send_bytes) + ' of ' + mb(size), 'the upload is shown as ' + upload);
	await shot(page, 'delta-offered.png');

	const response = page.waitForResponse(isUploadResponse, { timeout: 60000 });
	response.catch(() => {});
	await page.click('#install-button');
	await page.waitForSelector('#delta-detail', { state: 'visible' });
	const detail = await text(page, '#delta-detail');
	assert(detail.startsWith('To send: ' + mb(plan.send_bytes) + ' of the ' + mb(size) + ' bundle (' + percent + ' %)') &&
		/reused from the device: [\d.]+ MB/.test(detail), '#delta-detail says: ' + detail);
	if (env.mock) {
		await page.waitForFunction(() => /written: [\d.]+ MB of [\d.]+ MB/.test(document.getElementById('delta-detail').textContent));
		await shot(page, 'delta-progress.png');
	}
	const res = await response;
	assert(new URL(res.url()).search === '?delta=1', 'the install went to ' + res.url());
	assert((await res.request().headerValue('content-type')) === 'application/octet-stream',
		'delta Content-Type is ' + (await res.request().headerValue('content-type')));
	await page.waitForSelector('#success', { state: 'visible', timeout: 60000 });
	const success = await text(page, '#success');
	assert(success.includes('Installed version 3.0') && success.includes(mb(plan.send_bytes) + ' sent over the tether of the ' + mb(size) + ' bundle'),
		'success screen says: ' + success);
	const lb = await page.evaluate(() => window.__lb);
	if (env.mock) {
		assert(lb.phases.includes('copying'), 'the copying phase was not shown (saw ' + JSON.stringify(lb.phases) + ')');
		const d = mockDeltas(env, from);
		assert(d.length === 1, d.length + ' delta installs reached the mock');
		checkDeltaBody(d[0], env.files.v3);
		assert(JSON.stringify(d[0].ranges) === JSON.stringify(plan.ranges), 'the mock installed by another plan than the page was shown');
	} else {
		const status = await getJSON(REAL_URL + '/api/status');
		assert(status.last_result.result === 'installed' && status.main.version === '3.0',
			'the device reports ' + JSON.stringify(status.last_result) + ', main ' + JSON.stringify(status.main));
		const p = status.progress || {};
		assert(p.delta === true && p.send_total === plan.send_bytes, 'the device\'s progress: ' + JSON.stringify(p));
	}
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
	return 'sent ' + plan.send_bytes + ' of ' + size + ' bytes (' + percent + ' %): ' + plan.send + ' chunks sent, ' +
		plan.in_place + ' in place, ' + plan.moved + ' moved, in ' + plan.ranges.length + ' ranges';
}

// 1c. An older recovery has no /api/install-plan (404): the whole bundle goes as always.
async function caseDeltaFallback(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	env.mock.disk = diskOf(env.files.bundle);
	env.mock.planMissing = true;
	const from = env.mock.requests.length;
	const { page, errors } = await openPage(browser, env.base);
	const { status } = await choosePlanned(page, env.files.v3);
	assert(status === 404, '/api/install-plan answered ' + status);
	await sleep(300);
	assert(!(await visible(page, '#plan-note')), 'a plan note shows without a plan: ' + (await text(page, '#bundle-info')));
	const size = fs.statSync(env.files.v3).size;
	assert((await text(page, '#bundle-upload')) === (size / 1e6).toFixed(1) + ' MB', 'the upload is shown as ' + (await text(page, '#bundle-upload')));
	await page.click('#install-button');
	await page.waitForSelector('#success', { state: 'visible', timeout: 60000 });
	const put = env.mock.requests.slice(from).filter((q) => q.path === '/api/install');
	assert(put.length === 1 && !put[0].delta && put[0].complete && put[0].bytes === size, 'the mock received ' + JSON.stringify(put));
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
}

// 1d. The delta upload is cut half-way: the page asks for a new plan on its own (the chunks
// written before the cut are found now) and sends the rest; the second body is smaller.
async function caseDeltaCut(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	env.mock.disk = diskOf(env.files.bundle);
	const from = env.mock.requests.length;
	const { page, errors } = await openPage(browser, env.base);
	const first = await choosePlanned(page, env.files.v3);
	await page.waitForSelector('#plan-note[data-state="delta"]');
	env.mock.cutNextDelta = 0.5;
	const plansBefore = env.mock.plans.length;
	await page.click('#install-button');
	await page.waitForSelector('#success', { state: 'visible', timeout: 60000 });
	const d = mockDeltas(env, from);
	assert(d.length >= 2 && !d[0].complete && d[0].bytes >= 0.5 * first.plan.send_bytes,
		'delta installs: ' + JSON.stringify(d.map((q) => [q.bytes, q.complete, q.status])));
	const last = d[d.length - 1];
	checkDeltaBody(last, env.files.v3);
	assert(last.bytes < first.plan.send_bytes, 'the second delta body (' + last.bytes + ' bytes) is not smaller than the first (' + first.plan.send_bytes + ')');
	const plans = env.mock.plans.length - plansBefore;
	assert(plans >= 1 && plans <= 3, plans + ' new plans after the cut');
	assert((await text(page, '#success')).includes('Installed version 3.0'), 'success screen says: ' + (await text(page, '#success')));
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
	return 'cut at ' + d[0].bytes + ' of ' + first.plan.send_bytes + ' bytes, then ' + last.bytes + ' sent after ' + plans + ' new plan(s)';
}

// 1e. The page is reloaded during a delta upload; the same bundle chosen again is planned
// again and sends only what main still lacks. Against a real server main holds 3.0 here (case
// 1b), so 2.0 is the delta: the five chunks 3.0 changed.
async function caseDeltaReload(browser, env) {
	const file = env.mock ? env.files.v3 : env.files.bundle, version = env.mock ? '3.0' : '2.0';
	if (env.mock) env.mock.disk = diskOf(env.files.bundle);
	const from = env.mock ? env.mock.requests.length : 0;
	const { page, errors } = await openPage(browser, env.base);
	const first = await choosePlanned(page, file);
	if (!env.mock && first.status === 404) { await page.context().close(); return 'skipped: the server has no /api/install-plan'; }
	await page.waitForSelector('#plan-note[data-state="delta"]');
	await page.click('#install-button');
	await page.waitForFunction(() => Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) >= 50, null, { timeout: 30000 });
	page.removeAllListeners('dialog');
	page.on('dialog', (dl) => dl.accept());
	await page.reload();
	await page.waitForFunction(() => document.getElementById('main-version').textContent !== '…');
	if (!env.mock) await installEnded();
	const second = await choosePlanned(page, file);
	assert(second.status === 200 && second.plan.send_bytes < first.plan.send_bytes,
		'the plan after the reload sends ' + (second.plan && second.plan.send_bytes) + ' bytes, the first ' + first.plan.send_bytes);
	await page.waitForSelector('#plan-note[data-state="delta"]');
	assert(!(await visible(page, '#resume-note')), 'the cut delta upload is offered as a resume of the whole bundle');
	await shot(page, 'delta-after-reload.png');
	await page.click('#install-button');
	await page.waitForSelector('#success', { state: 'visible', timeout: 60000 });
	assert((await text(page, '#success')).includes('Installed version ' + version), 'success screen says: ' + (await text(page, '#success')));
	if (env.mock) {
		const d = mockDeltas(env, from);
		assert(d.length === 2 && !d[0].complete, 'delta installs: ' + JSON.stringify(d.map((q) => [q.bytes, q.complete, q.status])));
		checkDeltaBody(d[1], file);
		assert(d[1].bytes === second.plan.send_bytes, 'the second body is ' + d[1].bytes + ' bytes, its plan ' + second.plan.send_bytes);
	} else {
		const status = await getJSON(REAL_URL + '/api/status');
		const p = status.progress || {};
		assert(status.last_result.result === 'installed' && status.main.version === version && p.delta === true &&
			p.send_total === second.plan.send_bytes, 'the device reports ' + JSON.stringify(status.last_result) + ', main ' +
			JSON.stringify(status.main) + ', progress ' + JSON.stringify(p));
	}
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
	return 'first plan ' + first.plan.send_bytes + ' bytes, after the reload ' + second.plan.send_bytes;
}

// 2. Not a bundle (the raw image, by the file picker; a text file, by drag and drop): a clear
// refusal that says what to do, no Install button, nothing sent.
async function caseNotBundle(browser, env) {
	const { page, errors, installs } = await openPage(browser, env.base);
	const mockInstalls = () => (env.mock ? env.mock.requests.filter((q) => q.path === '/api/install').length : 0);
	const before = mockInstalls();
	await page.setInputFiles('#file-input', env.files.img);
	await page.waitForSelector('#bundle-info[data-state="refused"]');
	let info = await text(page, '#bundle-info');
	assert(/not a Lifeboat bundle/.test(info) && /What to do/.test(info) && /lifeboat-bundle create/.test(info), 'refusal unclear: ' + info);
	assert(!(await visible(page, '#install-button')), 'Install button shown for a non-bundle');
	await shot(page, 'refusal.png');

	// The same through the drop zone, with a file that is not a bundle either.
	await page.evaluate(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(['These are my notes, not an update.\n'], 'notes.txt', { type: 'text/plain' }));
		const zone = document.getElementById('drop-zone');
		for (const type of ['dragenter', 'dragover', 'drop'])
			zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
	});
	await page.waitForFunction(() => /notes\.txt/.test(document.getElementById('bundle-info').textContent));
	info = await text(page, '#bundle-info');
	assert(/not a Lifeboat bundle/.test(info), 'dropped text file not refused: ' + info);
	assert(!(await visible(page, '#install-button')), 'Install button shown for a dropped non-bundle');
	await sleep(1500);
	const sockets = await uploadSockets(page);
	assert(installs.length === 0 && sockets.length === 0,
		'an upload happened: ' + installs.length + ' request(s) and ' + sockets.length + ' WebSocket(s) to /api/install');
	assert(mockInstalls() === before, 'the mock received an install');
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
}

// 3. The server answers an error: the failure screen shows its message and code; Try again
// goes back to the chooser.
async function caseServerError(browser, env) {
	const { page, errors } = await openPage(browser, env.base);
	if (env.mock) {
		env.mock.failNext = { status: 400, code: 'chunk-corrupt', target: 'invalid',
			message: 'chunk 13 of image rootfs does not match its hash: copy the bundle again' };
	}
	await page.setInputFiles('#file-input', env.files.corrupt);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	await page.click('#install-button');
	await page.waitForSelector('#failure', { state: 'visible', timeout: 60000 });
	const answer = await installAnswer(page);
	assert(answer, 'no answer to /api/install recorded');
	assert(answer.via === 'websocket', 'the answer came by ' + answer.via);
	let body = null;
	try { body = JSON.parse(answer.text); } catch (e) { /* checked below */ }
	assert(answer.status >= 400 && body && body.error && body.error.message, 'server answered ' + answer.status + ' ' + answer.text);
	const msg = await text(page, '#failure-message');
	assert(msg === body.error.message.replace(/\s+/g, ' ').trim(), '#failure-message is "' + msg + '", server said "' + body.error.message + '"');
	const code = await text(page, '#failure-code');
	assert(code.includes(body.error.code), '#failure-code is "' + code + '", server said ' + body.error.code);
	assert(/What to do: ./.test(await text(page, '#failure-advice')), 'no advice on the failure screen');
	await shot(page, 'failure.png');
	await page.click('#try-again');
	await page.waitForSelector('#choose', { state: 'visible' });
	assert(await visible(page, '#install-button'), 'Try again does not offer Install again');
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
}

// 4. The connection drops mid-upload (mock only), under the page's WebSocket: "connection lost
// at N %: upload again", nothing sent again by itself.
async function caseConnectionLost(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	const { page, errors, installs } = await openPage(browser, env.base);
	const from = env.mock.requests.length;
	env.mock.cutUploads(0.4);
	await page.setInputFiles('#file-input', env.files.bundle);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	await page.click('#install-button');
	await page.waitForSelector('#failure', { state: 'visible', timeout: 30000 }).finally(() => env.mock.cutUploads(null));
	const msg = await text(page, '#failure-message');
	assert(/^Connection lost at \d+ %: upload again\.$/.test(msg), '#failure-message is "' + msg + '"');
	assert((await uploadVia(page)) === 'websocket', 'the upload went by ' + (await uploadVia(page)));
	const put = env.mock.requests.slice(from).filter((q) => q.path === '/api/install');
	const size = fs.statSync(env.files.bundle).size;
	assert(put.length === 1 && put[0].via === 'websocket' && !put[0].complete && put[0].bytes >= 0.4 * size && put[0].bytes < size,
		'the mock received ' + JSON.stringify(put));
	assert(installs.length === 0, 'the cut upload was posted again: ' + installs.length + ' request(s)');
	await page.waitForSelector('#failure-device', { state: 'visible', timeout: 5000 }).catch(() => {});
	await shot(page, 'connection-lost.png');
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
}

// 4a. The WebSocket is refused (mock only; an older recovery, a proxy without them): the page
// says so on its console and sends the same bundle as a POST, which installs.
async function caseWebSocketFallback(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	env.mock.websocket = false;
	const from = env.mock.requests.length, upgradesFrom = env.mock.upgrades.length;
	const { page, errors, installs, console: log } = await openPage(browser, env.base);
	await page.setInputFiles('#file-input', env.files.bundle);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	const response = page.waitForResponse(isUploadResponse, { timeout: 60000 });
	response.catch(() => {});
	await page.click('#install-button');
	const r = await response;
	assert(r.request().method() === 'POST' && (await r.request().headerValue('content-type')) === 'application/octet-stream',
		'the fallback sent ' + r.request().method() + ' ' + (await r.request().headerValue('content-type')));
	await page.waitForSelector('#success', { state: 'visible', timeout: 30000 });
	assert((await text(page, '#success')).includes('Installed version 2.0'), 'success screen says: ' + (await text(page, '#success')));
	assert((await uploadVia(page)) === 'post', 'the upload went by ' + (await uploadVia(page)));
	const tried = env.mock.upgrades.slice(upgradesFrom);
	assert(tried.length === 1 && !tried[0].accepted && tried[0].url === '/api/install?size=' + fs.statSync(env.files.bundle).size,
		'WebSocket handshakes: ' + JSON.stringify(tried));
	const put = env.mock.requests.slice(from).filter((q) => q.path === '/api/install');
	assert(put.length === 1 && installs.length === 1 && put[0].via === 'post' && put[0].complete &&
		put[0].bytes === fs.statSync(env.files.bundle).size, 'the mock received ' + JSON.stringify(put));
	assert(log.some((l) => /^info: No WebSocket to the device/.test(l)), 'the page did not say why it posted: ' + JSON.stringify(log));
	const unexpected = errors.filter((e) => !isUploadSocketNotice(e));
	assert(unexpected.length === 0, 'page errors: ' + unexpected.join('; '));
	await page.context().close();
}

// 4a'. The handshake reaches the device late (mock only; a slow tether): the page hears nothing
// for 15 s and gives up on the WebSocket, while the install the handshake started on the device
// is still ending. The POST waits until the device is free instead of hearing "busy", and that
// install's failure ("connection lost") is not taken for the POST's own. The mock keeps the
// install's lock 5 s past its recorded end (on the device, the moment between the two): a POST
// refused as busy then waits again instead of failing.
async function caseWebSocketLate(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	Object.assign(env.mock, { websocket: 'late', lateEndedAt: 0, lateLockMs: 5000 });
	const from = env.mock.requests.length, upgradesFrom = env.mock.upgrades.length;
	const { page, errors } = await openPage(browser, env.base);
	await page.setInputFiles('#file-input', env.files.bundle);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	const clicked = Date.now();
	await page.click('#install-button');
	const saidWaiting = page.waitForFunction(() => /ending an earlier attempt/.test(document.getElementById('progress-detail').textContent),
		null, { timeout: 30000 }).then(() => true, () => false);
	await page.waitForSelector('#success:not([hidden]), #failure:not([hidden])', { timeout: 60000 });
	assert(await visible(page, '#success'), 'the page failed: ' + (await text(page, '#failure')));
	assert(await saidWaiting, 'the page did not say that it waits for the device');
	assert((await text(page, '#success')).includes('Installed version 2.0'), 'success screen says: ' + (await text(page, '#success')));
	const tried = env.mock.upgrades.slice(upgradesFrom), put = env.mock.requests.slice(from).filter((q) => q.path === '/api/install');
	assert(tried.length === 1 && !tried[0].accepted, 'WebSocket handshakes: ' + JSON.stringify(tried));
	const refused = put.filter((q) => q.status === 409), sent = put.filter((q) => q.status !== 409);
	assert(sent.length === 1 && sent[0].via === 'post' && sent[0].complete && sent[0].bytes === fs.statSync(env.files.bundle).size,
		'the mock received ' + JSON.stringify(put.map((q) => ({ via: q.via, status: q.status, bytes: q.bytes, complete: q.complete }))));
	assert(env.mock.lateEndedAt > 0 && put[0].at >= env.mock.lateEndedAt,
		'the first POST came ' + (env.mock.lateEndedAt ? (put[0].at - env.mock.lateEndedAt) + ' ms after' : 'without') + ' the late install ending');
	const lockFreeAt = env.mock.lateEndedAt + env.mock.lateLockMs;
	assert(refused.length >= 1 && sent[0].at >= lockFreeAt,
		refused.length + ' POST(s) refused as busy; the installing one came ' + (sent[0].at - lockFreeAt) + ' ms after the lock was free');
	const unexpected = errors.filter((e) => !isUploadSocketNotice(e));
	assert(unexpected.length === 0, 'page errors: ' + unexpected.join('; '));
	await page.context().close();
	return 'the first POST left ' + ((put[0].at - clicked) / 1000).toFixed(1) + ' s after Install, ' +
		(put[0].at - env.mock.lateEndedAt) + ' ms after the install ended; ' + refused.length +
		' refused as busy; the installing one ' + (sent[0].at - lockFreeAt) + ' ms after the lock was free';
}

// 4b. The page is reloaded mid-upload (real server only: the session lives on the device). The
// same bundle chosen again is offered as a resume, sends only the rest with a Content-Range,
// and installs.
async function caseResumeAfterReload(browser, env) {
	if (env.mock) return 'skipped: needs the real server';
	const { page, errors } = await openPage(browser, env.base);
	await page.setInputFiles('#file-input', env.files.fresh);
	await page.waitForSelector('#bundle-info[data-state="ok"]');
	assert(/^Install version 2\.0$/.test(await text(page, '#install-button')), 'a fresh bundle is offered as ' + (await text(page, '#install-button')));
	await page.click('#install-button');
	await page.waitForFunction(() => Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) >= 40, null, { timeout: 30000 });
	// The page asks before leaving during an upload; this reload means it.
	page.removeAllListeners('dialog');
	page.on('dialog', (d) => d.accept());
	await page.reload();
	await page.waitForFunction(() => document.getElementById('main-version').textContent !== '…');
	await sessionLeft();
	await page.setInputFiles('#file-input', env.files.fresh);
	await page.waitForSelector('#resume-note', { state: 'visible', timeout: 20000 });
	const button = await text(page, '#install-button');
	const m = /^Resume version 2\.0 from (\d+) %$/.exec(button);
	assert(m && Number(m[1]) > 0 && Number(m[1]) < 100, 'the resume is offered as "' + button + '"');
	await shot(page, 'resume-offered.png');
	const response = page.waitForResponse(isUploadResponse, { timeout: 60000 });
	response.catch(() => {});
	await page.click('#install-button');
	await page.waitForFunction((p) => Number(document.getElementById('progress-bar').getAttribute('aria-valuenow')) >= p, Number(m[1]));
	const r = await response;
	const range = await r.request().headerValue('content-range');
	const size = fs.statSync(env.files.fresh).size;
	const rm = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range || '');
	assert(rm && Number(rm[1]) > 0 && Number(rm[2]) === size - 1 && Number(rm[3]) === size, 'the resume sent Content-Range: ' + range);
	await page.waitForSelector('#success', { state: 'visible', timeout: 30000 });
	assert((await text(page, '#success')).includes('Installed version 2.0'), 'success screen says: ' + (await text(page, '#success')));
	const status = await getJSON(REAL_URL + '/api/status');
	assert(status.last_result.result === 'installed' && status.progress.resumed === Number(rm[1]),
		'the device reports ' + JSON.stringify(status.last_result) + ', resumed ' + status.progress.resumed);
	const session = await fetch(REAL_URL + '/api/session');
	assert(session.status === 404, 'a session outlived the install: HTTP ' + session.status);
	assert(errors.length === 0, 'page errors: ' + errors.join('; '));
	await page.context().close();
	return 'resumed at ' + rm[1] + ' of ' + size + ' bytes';
}

// 5. Without JavaScript: the <noscript> form posts the bundle as multipart/form-data.
async function caseNoScript(browser, env) {
	if (FIREFOX) return 'skipped: playwright cannot turn JavaScript off in Firefox over BiDi';
	const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false });
	const page = await context.newPage();
	page.setDefaultTimeout(20000);
	await page.goto(env.base + '/');
	const form = 'form[action="/api/install"][method="post"][enctype="multipart/form-data"]';
	assert(await visible(page, form), 'no visible plain upload form without JavaScript');
	for (const sel of ['#drop-zone', '#device', '#tool-reboot-main', '#tool-reboot-recovery'])
		assert(!(await visible(page, sel)), sel + ' shows without JavaScript, where it cannot work');
	assert(await visible(page, '#show-log'), 'no log link without JavaScript');
	await page.setInputFiles(form + ' input[type=file]', env.files.bundle);
	await shot(page, 'no-javascript.png');
	const response = page.waitForResponse(isUploadResponse, { timeout: 60000 });
	response.catch(() => {}); // awaited below; not an unhandled rejection if the case fails first
	await page.click(form + ' [type=submit]');
	const r = await response;
	const req = r.request();
	assert(/^multipart\/form-data; boundary=/.test(await req.headerValue('content-type')), 'form Content-Type is ' + (await req.headerValue('content-type')));
	await page.waitForLoadState();
	const body = await page.textContent('body');
	assert(r.status() === 200 && /"result":\s*"installed"/.test(body), 'the form upload got ' + r.status() + ': ' + body.slice(0, 200));
	await context.close();
}

// 6. The recovery itself: why it runs, a failed boot kept from before, a damaged image.
async function caseRecoveryState(browser, env) {
	if (!env.mock) return 'skipped: needs the mock server';
	const status = env.mock.status;
	status.recovery = {
		version: status.recovery_version, boot_reason: 'requested',
		last_failure: { reason: 'attempts-exhausted', text: 'main used up its boot attempts', time: 1764190000, this_boot: false },
		image: { check: 'mismatch', device: '/dev/vda2', sha256: 'ab'.repeat(32), expected: 'cd'.repeat(32) },
	};
	try {
		const { page, errors } = await openPage(browser, env.base);
		const why = await text(page, '#boot-reason');
		assert(why === 'a reboot into the recovery was requested. Last failure: main used up its boot attempts, 2025-11-26 20:46 UTC',
			'#boot-reason says "' + why + '"');
		const rec = await text(page, '#recovery-version');
		assert(rec.includes('RECOVERY IMAGE DAMAGED: reflash the card') && rec.includes('ab'.repeat(32)) && rec.includes('cd'.repeat(32)),
			'#recovery-version says "' + rec + '"');
		assert((await page.getAttribute('#recovery-version', 'class')) === 'bad', 'the damaged image is not marked bad');
		await shot(page, 'recovery-damaged.png');
		status.recovery.image = { check: 'ok' };
		status.recovery.last_failure.this_boot = true; /* this boot's: the reason says it already */
		await page.waitForFunction(() => /image intact/.test(document.getElementById('recovery-version').textContent));
		assert(!(await visible(page, '#last-failure')), 'this boot\'s failure is shown twice');
		assert(errors.length === 0, 'page errors: ' + errors.join('; '));
		await page.context().close();
	} finally {
		delete status.recovery;
	}
}

async function main() {
	const setupProblem = FIREFOX && !fs.existsSync(FIREFOX) ? FIREFOX + ' missing (scripts/install-deps installs firefox-esr)'
		: !FIREFOX && !fs.existsSync(CHROMIUM) ? CHROMIUM + ' missing (scripts/install-deps installs chromium)'
		: !fs.existsSync(LBB) ? LBB + ' missing (run make first)'
			: !fs.existsSync(PAGE) ? PAGE + ' missing' : null;
	if (setupProblem) { fail('setup', setupProblem); return; }
	fs.mkdirSync(SHOTS, { recursive: true });
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-browser-'));
	let server = null, browser = null;
	try {
		const env = { base: REAL_URL, mock: null, compatible: 'test-board' };
		if (REAL_URL) {
			await getJSON(REAL_URL + '/api/status').catch((e) => {
				throw new Error('LIFEBOAT_URL=' + REAL_URL + ' does not answer /api/status (' + (e.cause ? e.cause.code || e.cause.message : e.message) + ')');
			});
			const info = await getJSON(REAL_URL + '/api/info').catch(() => ({}));
			if (info.compatible) env.compatible = info.compatible;
			server = await startRelay(REAL_URL, 4e6);
			env.base = server.url;
		} else {
			server = await startMock({ pagePath: PAGE, compatible: env.compatible,
				recoveryVersion: fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim(), rate: 4e6 });
			env.base = server.url;
			env.mock = server.mock;
		}
		env.files = makeFiles(tmp, env.compatible);
		browser = FIREFOX ? await firefox.launch({ executablePath: FIREFOX, channel: 'moz-firefox', headless: true })
			: await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
		const cases = [['install', caseInstall], ['delta', caseDelta], ['delta-fallback', caseDeltaFallback],
			['delta-cut', caseDeltaCut], ['delta-reload', caseDeltaReload], ['not-a-bundle', caseNotBundle],
			['server-error', caseServerError], ['connection-lost', caseConnectionLost],
			['websocket-fallback', caseWebSocketFallback], ['websocket-late', caseWebSocketLate],
			['resume-after-reload', caseResumeAfterReload], ['no-javascript', caseNoScript],
			['recovery-state', caseRecoveryState]];
		// BROWSER_CASES=name,name runs only those cases (for looking into one).
		const only = (process.env.BROWSER_CASES || '').split(',').filter(Boolean);
		for (const [name, fn] of cases) {
			if (only.length && !only.includes(name)) continue;
			let timer;
			if (env.mock) env.mock.settle();
			try {
				const note = await Promise.race([fn(browser, env),
					new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after 90 s')), 90000); })]);
				ok(name, note);
			} catch (e) {
				fail(name, e && e.message ? e.message.split('\n')[0] : e);
				for (const ctx of browser.contexts()) await ctx.close().catch(() => {});
			} finally {
				clearTimeout(timer);
			}
		}
	} catch (e) {
		fail('setup', e && e.message ? e.message.split('\n')[0] : e);
	} finally {
		if (browser) await browser.close().catch(() => {});
		if (server) await server.close();
		fs.rmSync(tmp, { recursive: true, force: true });
	}
}

main().then(() => process.exit(failures ? 1 : 0), (e) => { fail('setup', e); process.exit(1); });
