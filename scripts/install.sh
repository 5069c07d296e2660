#!/usr/bin/env bash
# Install ampel with everything its tests need into the active Python environment.
#
# 1. System tools the tests use, from Debian's packages, when missing: headless Chromium
#    (renders the HTML report), mbpoll (a non-pymodbus Modbus client), socat (a serial pty
#    pair for Modbus RTU) and openssl (test certificates for Modbus/TCP over TLS). Needs root
#    or sudo; skipped with a note otherwise (the tests that need them then fail).
# 2. ampel itself with its test and docs extras. torch is pinned to the CPU build 2.13.0; on these
#    machines its wheel lies in a local folder (PIP_FIND_LINKS or /opt/wheels), which pip
#    is pointed at when present.
# 3. The bytecode of ampel's own packages (python -m compileall), as a regular
#    (non-editable) installation has it: an editable installation leaves compiling to the
#    first import, and with PYTHONDONTWRITEBYTECODE=1 set every process compiled ampel's
#    modules again. Python reads these .pyc files whatever that variable says and checks
#    each against its source's modification time and size, so an edited module is
#    compiled afresh (in every process while that variable is set, until this script
#    or the compileall line runs again).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; }; then
    echo "installing system packages: ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q "${missing[@]}"
  else
    echo "note: please install ${missing[*]} (Debian packages) for the full test suite" >&2
  fi
fi

python -m pip install --quiet --upgrade pip
find_links=()
for d in ${PIP_FIND_LINKS:-} /opt/wheels; do
  if [ -d "$d" ]; then find_links+=(--find-links "$d"); fi
done
python -m pip install --quiet "${find_links[@]}" -e ".[test,docs]"
python -m compileall -q signals scenarios controllers hil experiments
