#!/usr/bin/env bash
# Installs what tests/browser_auth_server.rs needs, idempotently: Debian's chromium (when /usr/bin/chromium
# is absent) and playwright-core at the version pinned in package-lock.json (npm ci, into ./node_modules).
# playwright-core downloads no browser: the test drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends chromium
fi
/usr/bin/chromium --version

npm ci --no-audit --no-fund
node -e 'import("playwright-core").then(() => console.log("playwright-core", require("./package-lock.json").packages["node_modules/playwright-core"].version))'
