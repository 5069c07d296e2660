#!/usr/bin/env bash
# Install ampel with its test tools into the active Python environment.
# torch is pinned to the CPU build 2.13.0; on these machines its wheel lies in a local
# folder (PIP_FIND_LINKS or /opt/wheels), which pip is pointed at when present.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --upgrade pip
find_links=()
for d in ${PIP_FIND_LINKS:-} /opt/wheels; do
  if [ -d "$d" ]; then find_links+=(--find-links "$d"); fi
done
python -m pip install --quiet "${find_links[@]}" -e ".[test]"
