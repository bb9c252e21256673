#!/usr/bin/env bash
# open3d-cpu needs libusb-1.0 at import time. Install it with apt when missing and we are root;
# otherwise say what to install.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[occnet] installing Debian package libusb-1.0-0 (needed by open3d)"
  (apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1) || \
    (apt-get update -qq && apt-get install -y -qq libusb-1.0-0 >/dev/null) || {
      echo "[occnet] ERROR: apt-get could not install libusb-1.0-0 (no network?)" >&2; exit 1; }
else
  echo "[occnet] ERROR: libusb-1.0 is missing; install it (Debian/Ubuntu: sudo apt-get install libusb-1.0-0)" >&2
  exit 1
fi
