#!/bin/sh
# Installs the browser the labeling page's tests drive (tests/test_page.py): Debian's
# `chromium` and `chromium-driver`, with apt-get, when `chromedriver` is not on the PATH.
# Idempotent: does nothing when chromedriver is already there. Needs root (or sudo).
set -eu

if command -v chromedriver >/dev/null 2>&1; then
    echo "install_browser: $(command -v chromedriver) is already installed; nothing to do"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get here; install Chromium and a matching chromedriver yourself" \
         "(on Debian/Ubuntu: the packages chromium and chromium-driver)" >&2
    exit 1
fi
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
run apt-get update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
command -v chromedriver >/dev/null 2>&1 || { echo "install_browser: chromedriver is still missing" >&2; exit 1; }
echo "install_browser: installed $(chromedriver --version)"
