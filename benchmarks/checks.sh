#!/usr/bin/env bash
# What the output checks cost (quality-gate issue): renders AI recipes on a 1600x1200
# product shot with the checks on and off, alternating, in one process, and prints the CPU
# each mode costs that process (the WebUI stand-in runs as its own process, so its
# painting is not counted) and their ratio. Target: at most 1.15x. See benchmarks/README.md.
#
# Settings (environment):
#   BENCH_CHECKS_N=21   renders per recipe and mode
#   GO=go
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${BENCH_CHECKS_N:-21}
GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/pictor-checks.XXXXXX")
stub_pid=""
cleanup() {
	[[ -n $stub_pid ]] && kill "$stub_pid" 2>/dev/null && wait "$stub_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && $GO build -o "$work/sdstub" ./cmd/sdstub && $GO build -o "$work/checkbench" ./benchmarks/checkbench)
port=$(( 20000 + RANDOM % 20000 ))
"$work/sdstub" -addr "127.0.0.1:$port" -step-latency 1ms -preview-every 0 -log-level error &
stub_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$port/sdapi/v1/options" >/dev/null 2>&1 && break
	sleep 0.1
done
"$work/checkbench" -sd-url "http://127.0.0.1:$port" -n "$N"
