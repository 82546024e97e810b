#!/usr/bin/env bash
# Installs what tests/interop_issuers.rs runs: the npm packages jose and jsonwebtoken exactly as locked in
# package-lock.json, and PyJWT with cryptography as pinned in requirements.txt, in a virtual environment
# at .venv (beside this script, gitignored). Idempotent: does nothing when both already match.
# Needs node 20+ with npm, and python 3.9+ with pip (python3-venv is not needed: without ensurepip the
# venv is made without pip and the system pip installs into it).
set -euo pipefail
cd "$(dirname "$0")"

# --- node ---------------------------------------------------------------------------------------------
command -v node >/dev/null || { echo "install.sh: node 20+ is needed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is needed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "install.sh: node $(node --version) is too old, 20+ is needed" >&2
  exit 1
fi
# npm ci writes node_modules/.package-lock.json; when it equals the lockfile, nothing changed.
if [ -f node_modules/.package-lock.json ] \
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
node -e 'for (const p of ["jose", "jsonwebtoken"]) console.log(`install.sh: ${p} ${require(`./node_modules/${p}/package.json`).version}`)'

# --- python -------------------------------------------------------------------------------------------
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "install.sh: python3 (3.9+) is needed" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv; then
    # Debian without python3-venv has no ensurepip: make the venv without pip.
    rm -rf .venv
    "$python" -m venv --without-pip .venv
  fi
fi
# Every line "name==version" of requirements.txt installed at exactly that version?
pinned_ok() {
  .venv/bin/python - <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
for line in open("requirements.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line).groups()
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
if pinned_ok; then
  echo "install.sh: .venv already matches requirements.txt"
else
  if .venv/bin/python -m pip --version >/dev/null 2>&1; then
    .venv/bin/python -m pip install --disable-pip-version-check --no-input -r requirements.txt
  else
    "$python" -m pip --python .venv/bin/python install --disable-pip-version-check --no-input -r requirements.txt
  fi
  pinned_ok || { echo "install.sh: .venv does not match requirements.txt after pip install" >&2; exit 1; }
fi
.venv/bin/python -c 'import jwt, cryptography; print(f"install.sh: PyJWT {jwt.__version__}, cryptography {cryptography.__version__}")'
