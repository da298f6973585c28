#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each and prints a
# table: package, target, time, execs, new corpus entries, result.
# Failing inputs land in the package's testdata/fuzz/<Target>/ (Go's
# default); the generated corpus stays in Go's fuzz cache, so each run goes
# on from the last one (its size is the "corpus" column). Exits non-zero
# when a target failed.
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10m}
# FUZZPARALLEL: fuzzing workers per target (default: one per CPU).
FUZZPARALLEL=${FUZZPARALLEL:-}
# FUZZONLY: an extended regexp; only targets whose "package target" (e.g.
# "wallet FuzzParseAddress") matches it run.
FUZZONLY=${FUZZONLY:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
module=$($GO list -m) || exit 2
# Go keeps each target's generated corpus here, across runs.
cache=$($GO env GOCACHE)/fuzz
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

rows=()
failed=0
# Only packages with a fuzz function in a test file are compiled for -list.
for pkg in $($GO list -f '{{$d := .Dir}}{{range .TestGoFiles}}{{$.ImportPath}} {{$d}}/{{.}}{{"\n"}}{{end}}{{range .XTestGoFiles}}{{$.ImportPath}} {{$d}}/{{.}}{{"\n"}}{{end}}' ./... |
	while read -r p f; do grep -q '^func Fuzz' "$f" && echo "$p"; done | sort -u); do
	targets=$($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep -E '^Fuzz[A-Za-z0-9_]*$') || continue
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	rel=${dir#"$root"/}
	short=${pkg#"$module"}
	short=${short#/}
	[ -n "$short" ] || short=.
	for t in $targets; do
		if [ -n "$FUZZONLY" ] && ! grep -qE -- "$FUZZONLY" <<<"$short $t"; then
			continue
		fi
		log="$logdir/${short//\//_}.$t.log"
		echo "fuzz: $short $t for $FUZZTIME" >&2
		start=$(date +%s)
		$GO test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 10x \
			${FUZZPARALLEL:+-parallel "$FUZZPARALLEL"} "$pkg" >"$log" 2>&1
		rc=$?
		secs=$(( $(date +%s) - start ))
		last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1)
		execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
		newc=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
		if [ "$rc" -eq 0 ]; then
			result=ok
		else
			failed=1
			input=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$log" | tail -n 1)
			if [ -n "$input" ]; then
				result="FAILED $rel/$input"
			else
				result="FAILED (exit $rc; see below)"
			fi
			{ echo "---- $short $t"; tail -n 40 "$log"; } >&2
		fi
		corpus=$(find "$cache/$pkg/$t" -type f 2>/dev/null | wc -l)
		rows+=("$short|$t|${secs}s|${execs:-?}|${newc:-?}|$corpus|$result")
		echo "fuzz: $short $t: ${secs}s, ${execs:-?} execs, ${newc:-?} new, corpus $corpus, $result" >&2
	done
done

printf '%s\n' "package|target|time|execs|new this run|corpus|result" "${rows[@]}" | column -t -s '|'
exit "$failed"
