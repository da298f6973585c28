#!/usr/bin/env bash
# Installs what building, running and testing Cocoon Provider needs on
# Debian/Ubuntu: Fyne's cgo libraries, QEMU, and Xvfb for the UI tests.
# Installs only what is missing; safe to run again.
set -euo pipefail

packages=(gcc pkg-config libgl1-mesa-dev xorg-dev qemu-system-x86 qemu-utils xvfb xauth x11-apps x11-utils dbus-daemon)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "Installing: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

need="1.26"
if ! command -v go >/dev/null 2>&1; then
	echo "Go $need or newer is needed: install it from https://go.dev/dl/ and put it on PATH." >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
	echo "Go $need or newer is needed, found $have: install it from https://go.dev/dl/." >&2
	exit 1
fi
