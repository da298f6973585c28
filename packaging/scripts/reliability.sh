#!/usr/bin/env bash
# The reliability suite: each check tries to break something and prints
# what it tried and what held (its RELIABILITY line); a table at the end.
# Exits non-zero when a check failed. Needs QEMU (the VM checks) and root
# or sudo (a small tmpfs for the disk-full check). Not part of `make test`.
#   RELIABILITY_KILLS      ledger SIGKILLs (default 100)
#   RELIABILITY_QEMU_KILLS QEMU kills (default 20)
#   FUZZTIME               per fuzz target (default 10s here, 0 skips;
#                          make fuzz FUZZTIME=10m is the long run)
set -u
GO=${GO:-go}
cd "$(dirname "$0")/../.." || exit 2
export COCOON_RELIABILITY=1
export STORE_CRASH_ITERATIONS=${RELIABILITY_KILLS:-100}
export RELIABILITY_QEMU_KILLS=${RELIABILITY_QEMU_KILLS:-20}
FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

rows=()
failed=0
# check NAME CMD...: runs CMD, prints its RELIABILITY lines as they come.
check() {
	local name=$1
	shift
	echo "== $name" >&2
	local start=$SECONDS rc
	"$@" >"$log/$name.log" 2>&1
	rc=$?
	local lines
	lines=$(grep -o 'RELIABILITY .*' "$log/$name.log" | sed 's/^RELIABILITY //')
	if [ -n "$lines" ]; then
		printf '%s\n' "$lines" | sed 's/^/   /' >&2
	fi
	local result=held
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc)"
		failed=1
		{ echo "---- $name"; grep -E -- '--- FAIL|_test.go:[0-9]+:|panic|FAIL' "$log/$name.log" | head -n 40; } >&2
	elif [ -z "$lines" ] && ! grep -q 'ok' "$log/$name.log"; then
		result="no result"
		failed=1
	fi
	rows+=("$name|$((SECONDS - start)) s|$result")
}

smallfs() {
	local mnt rc
	mnt=$(mktemp -d)
	$sudo mount -t tmpfs -o size=16m tmpfs "$mnt" || return 1
	$sudo chown "$(id -u):$(id -g)" "$mnt"
	RELIABILITY_SMALLFS=$mnt $GO test -count=1 -run 'TestReliabilityDiskFullAndReadOnly$' -v ./engine/store/
	rc=$?
	$sudo umount "$mnt"
	rmdir "$mnt"
	return $rc
}

check ledger-sigkill $GO test -count=1 -timeout 30m -run 'TestCrashRecovery$|TestCrashRecordProgress$' -v ./engine/store/
check disk-full-read-only smallfs
check bad-images $GO test -count=1 -run 'TestReliabilityBadImages$' -v ./engine/devmode/
check bad-releases $GO test -count=1 -run 'TestReliabilityBadReleases$' -v ./engine/release/
check bad-models $GO test -count=1 -run 'TestReliabilityBadModels$' -v ./engine/model/
check hostile-helper-requests $GO test -count=1 -run 'TestReliabilityHostileRequests$' -v ./engine/helper/
check qemu-kill $GO test -count=1 -timeout 60m -tags integration -run 'TestReliabilityQEMUKills$' -v ./engine/
check canary-prompt $GO test -count=1 -timeout 20m -tags integration -run 'TestDevModeJobFlow$' -v ./engine/
check secrets $GO test -count=1 -timeout 20m -tags integration -run 'TestReliabilitySecrets$' -v .
if [ "$FUZZTIME" != 0 ]; then
	check fuzz env GO="$GO" FUZZTIME="$FUZZTIME" packaging/scripts/fuzz.sh
	grep -E '^(package|[a-z./]+ +Fuzz)' "$log/fuzz.log" | sed 's/^/   /' >&2
fi

echo
printf '%s\n' "check|time|result" "${rows[@]}" | column -t -s '|'
exit "$failed"
