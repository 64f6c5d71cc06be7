#!/bin/sh
# Installs the browser the labeling page's tests drive (tests/test_page.py): Debian's
# `chromium` and `chromium-driver`, with apt-get, when `chromium` or `chromedriver` is not
# on the PATH. Idempotent: does nothing when both are there. Needs root (or sudo).
set -eu

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install_browser: chromium and chromedriver are already installed; nothing to do"
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
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install_browser: $tool is still missing" >&2; exit 1; }
done
echo "install_browser: installed $(chromedriver --version)"
