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

# Dev mode: stand-in image build, cold boot to ready under the best
# acceleration, host RSS while the VM runs, graceful stop.
if [ "${MEASURE_COLD:-0}" = 1 ]; then
	cache=$(mktemp -d)
	printf 'stand-in image, cold:     %6.1f s (download, unpack, agent build)\n' "$(seconds go run ./engine/devmode/cmd/mkimage -src . -cache "$cache" -q)"
	rm -rf "$cache"
fi
go run ./engine/devmode/cmd/mkimage -src . -q >/dev/null 2>&1
printf 'stand-in image, cached:   %6.2f s\n' "$(seconds go run ./engine/devmode/cmd/mkimage -src . -q)"
img=$(ls -td "${XDG_CACHE_HOME:-$HOME/.cache}"/cocoon-provider/standin/images/*/ | head -n1)
printf 'stand-in image size:      kernel %.1f MiB, initrd %.1f MiB\n' "$(echo "$(stat -c %s "$img/image.vmlinuz")/1048576" | bc -l)" "$(echo "$(stat -c %s "$img/image.initrd")/1048576" | bc -l)"
data=$(mktemp -d)
"$bin/cp-nogui" dev --data-dir "$data" >"$data/dev.log" 2>&1 &
devpid=$!
for _ in $(seq 600); do grep -q "worker ready in" "$data/dev.log" && break; sleep 0.5; done
printf 'dev boot to ready:        %s\n' "$(grep -o 'worker ready in [0-9.]*s' "$data/dev.log" | head -n1 | sed 's/worker ready in //') (QEMU start to first /jsonstats answer, $(grep -o '([a-z]*)' "$data/dev.log" | head -n1))"
sleep 5
qpid=$(cat "$data/instances/0/qemu.pid")
printf 'RSS while the VM runs:    app %.1f MiB, QEMU %.1f MiB\n' "$(awk '/VmRSS/ {print $2/1024}' /proc/$devpid/status)" "$(awk '/VmRSS/ {print $2/1024}' /proc/$qpid/status)"
printf 'graceful stop (CLI):      %6.2f s\n' "$(seconds "$bin/cp-nogui" stop --data-dir "$data")"
wait $devpid || true
rm -rf "$data"

# The request path through the VM against the same generator in-process
# (engine/devmode/cmd/jobbench): tokens/s, requests/s, latency, CPU and
# RSS. About 20 s on two cores under TCG (the VM part of it about 15 s).
log=$(mktemp)
if ! go run ./engine/devmode/cmd/jobbench -requests 120 -concurrency 2 -prompt-words 120 -max-tokens 64 -reasoning-tokens 8 2>"$log"; then
	echo "jobbench failed: $(tail -n1 "$log")"
fi
rm -f "$log"
