#!/usr/bin/env bash
# The recovery's web page (overlay/srv/lifeboat/www/index.html) in Debian's Chromium and Firefox
# ESR, driven by tests/browser/test.js through playwright-core: against the mock server inside
# the test, then against a real recovery server (LIFEBOAT_URL=http://HOST:PORT), each in both
# browsers. Prints "ok /browser/NAME" (/browser/firefox/NAME, /browser/real/NAME,
# /browser/real/firefox/NAME) or "FAIL ...: why" per case.
set -uo pipefail
cd "$(dirname "$0")/../.."

for browser in chromium firefox-esr; do
	if [ ! -x /usr/bin/$browser ]; then
		echo "FAIL /browser/setup: $browser missing (scripts/install-deps installs it)"
		exit 1
	fi
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "FAIL /browser/setup: node or npm missing (scripts/install-deps installs them)"
	exit 1
fi
# playwright-core never downloads a browser; the variable only makes sure of it.
if [ ! -e tests/browser/node_modules/playwright-core/package.json ]; then
	if ! out=$(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund 2>&1); then
		printf '%s\n' "$out" | tail -5
		echo "FAIL /browser/setup: npm ci --prefix tests/browser failed (needs the npm registry once)"
		exit 1
	fi
fi
status=0
node tests/browser/test.js || status=1
BROWSER=firefox node tests/browser/test.js || status=1

# The same page served by the real lighttpd with the real CGI programs, onto a file target.
source tests/lib.sh
source tests/http-lib.sh
trap 'stop_server; cleanup' EXIT
ensure_users
make_keys
truncate -s 64M "$T/main.img"
grant_main "$T/main.img"
if ! start_server "$T/main.img" --allow-unsigned; then
	fail /browser/real/setup "the recovery server did not start"
	exit 1
fi
LIFEBOAT_URL=$URL node tests/browser/test.js || status=1
LIFEBOAT_URL=$URL BROWSER=firefox node tests/browser/test.js || status=1
exit $status
