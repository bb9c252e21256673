#!/usr/bin/env bash
# Debian packages the build and tests need: libusb-1.0-0 (open3d imports it), mono-mcs (the C#
# bridge client is compiled and run against the server in the tests), chromium (the browser
# viewer is tested headless). Installed with apt when missing and we are root; otherwise says
# what to install.
set -euo pipefail
missing=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
command -v mcs >/dev/null && command -v mono >/dev/null || missing+=(mono-mcs)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[occnet] installing Debian packages: ${missing[*]}"
  (apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1) || \
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } || {
      echo "[occnet] ERROR: apt-get could not install ${missing[*]} (no network?)" >&2; exit 1; }
else
  echo "[occnet] ERROR: missing Debian packages ${missing[*]}; install them (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
