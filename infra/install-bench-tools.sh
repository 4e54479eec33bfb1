#!/usr/bin/env bash
# wrk drives the HTTP load benchmarks against a server on 127.0.0.1.
set -euo pipefail

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if ! command -v wrk >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends wrk
fi

command -v wrk >/dev/null 2>&1 || { echo "install-bench-tools: wrk still missing" >&2; exit 1; }
# wrk has no --version flag; -v prints the version and exits non-zero.
wrk -v 2>&1 | head -1 || true
