#!/usr/bin/env bash
# Prints footprint numbers: build times, binary sizes, doctor wall time and
# the desktop app's memory with the window open and tray-only (under Xvfb).
# Numbers only, never pass/fail. MEASURE_COLD=1 also times a build with an
# empty Go build cache (about three minutes: GLFW is compiled with cgo).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

seconds() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(go env GOVERSION), $(date -u +%Y-%m-%d)"
if [ "${MEASURE_COLD:-0}" = 1 ]; then
	cache=$(mktemp -d)
	printf 'build, cold cache:        %6.1f s\n' "$(GOCACHE=$cache seconds go build -o "$bin/cold" .)"
	rm -rf "$cache"
fi
go build -o "$bin/cp" . 2>/dev/null
touch main.go
printf 'build, warm cache:        %6.1f s\n' "$(seconds go build -o "$bin/cp" .)"
go build -trimpath -ldflags '-s -w' -o "$bin/cp-stripped" . 2>/dev/null
go build -trimpath -tags nogui -ldflags '-s -w' -o "$bin/cp-nogui" . 2>/dev/null
printf 'binary, desktop:          %6.1f MiB (stripped %.1f MiB)\n' "$(echo "$(stat -c %s "$bin/cp")/1048576" | bc -l)" "$(echo "$(stat -c %s "$bin/cp-stripped")/1048576" | bc -l)"
printf 'binary, nogui (stripped): %6.1f MiB\n' "$(echo "$(stat -c %s "$bin/cp-nogui")/1048576" | bc -l)"

data=$(mktemp -d)
runs=()
for _ in 1 2 3 4 5; do runs+=("$(seconds "$bin/cp-nogui" doctor --data-dir "$data")"); done
rm -rf "$data"
sorted=$(printf '%s\n' "${runs[@]}" | sort -n)
printf 'doctor wall time:         %6.3f s median, %.3f s min (5 runs)\n' "$(echo "$sorted" | sed -n 3p)" "$(echo "$sorted" | head -n1)"

go test -tags integration -run '^$' -bench GUIFootprint -benchtime=1x . 2>/dev/null | awk '/BenchmarkGUIFootprint/ {
	for (i = 1; i <= NF; i++) { if ($i == "MiB-RSS-window") w = $(i-1); if ($i == "MiB-RSS-tray-only") t = $(i-1) }
	printf "GUI RSS, window open:     %6.1f MiB\nGUI RSS, tray only:       %6.1f MiB\n", w, t }'
