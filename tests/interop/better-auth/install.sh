#!/usr/bin/env bash
# Installs the npm packages of the Better Auth interop harness (tests/interop_better_auth.rs):
# better-auth at the version pinned in package.json, exactly as locked in package-lock.json.
# Idempotent: does nothing when node_modules already matches the lockfile.
# Needs node 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")"

command -v node >/dev/null || { echo "install.sh: node 20+ is needed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is needed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "install.sh: node $(node --version) is too old, 20+ is needed" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json; when it equals the lockfile, nothing changed.
if [ -f node_modules/.package-lock.json ] && [ -f node_modules/better-auth/package.json ] \
  && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    for (const [path, entry] of Object.entries(want)) {
      if (path === "") continue;
      if (!have[path] || have[path].version !== entry.version || have[path].integrity !== entry.integrity) process.exit(1);
    }
    process.exit(Object.keys(have).length === Object.keys(want).length - 1 ? 0 : 1);
  '; then
  echo "install.sh: node_modules already matches package-lock.json"
else
  npm ci --no-audit --no-fund --ignore-scripts
fi
node -e 'const v = require("./node_modules/better-auth/package.json").version; console.log(`install.sh: better-auth ${v}`)'
