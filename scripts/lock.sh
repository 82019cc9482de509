#!/usr/bin/env bash
# Compile requirements.txt and requirements-dev.txt (every package, exact versions) from the .in files,
# each in a throwaway virtualenv so nothing else installed leaks into the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
for name in requirements requirements-dev; do
  tmp=$(mktemp -d)
  "$python" -m venv "$tmp"
  "$tmp/bin/python" -m pip install --quiet --upgrade pip
  "$tmp/bin/python" -m pip install --quiet -r "$name.in"
  { echo "# Compiled from $name.in by scripts/lock.sh (make lock); do not edit by hand."
    "$tmp/bin/python" -m pip freeze --all --exclude pip --exclude setuptools --exclude wheel; } > "$name.txt"
  rm -rf "$tmp"
done
