#!/usr/bin/env bash
# Installs the tools the full test suite needs and that a fresh machine of
# this project's kind lacks: Node.js packages (jco, oidc-provider,
# playwright-core, the Speech SDK), Debian's Chromium for the browser test,
# and Python's requests for the original example client.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
python3 -c 'import requests' >/dev/null 2>&1 || apt_packages+=(python3-requests)
if ((${#apt_packages[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
