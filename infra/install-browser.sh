#!/usr/bin/env bash
# Headless Chromium for Playwright/screenshot tests, from Debian rather than
# `playwright install` (only the package registries are reachable here).
# fonts-noto-cjk: without it Chinese UI text renders as empty boxes.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

font_installed() {
  dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed'
}

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if [[ ! -x $CHROMIUM ]] || ! font_installed; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk
fi

[[ -x $CHROMIUM ]] || { echo "install-browser: $CHROMIUM still missing" >&2; exit 1; }
"$CHROMIUM" --version
