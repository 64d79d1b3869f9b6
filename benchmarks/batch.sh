#!/usr/bin/env bash
# Pictor batch benchmark (issue 4): `bash benchmarks/batch.sh`; results in benchmarks/BATCH.md.
#
# N distinct 640x480 JPEG q85 photographs (variants of BASES generated ones, each with
# one 16x16 block changed, so every file has its own sha256 and no render is a cache
# hit) are resized to fit 320x320, JPEG q80, CPU only:
#   1. floor:  libvips' own vipsthumbnail, two processes in parallel, each given half
#              of the N files in one invocation; run again after the render batch,
#              and the floor is the mean of the two rates;
#   2. render: one Pictor batch of N url rows (served from memory on a loopback port
#              by benchmarks/batchload): fetch, store the original, render, store the
#              rendition, complete the River job, per item;
#   3. first:  a batch of N image_id rows of the images batch 2 stored, same recipe:
#              nothing is fetched and every render is a cache hit (without a filter no
#              quality report is computed either);
#   4. queue:  the same image_id batch again. Its time per item is the queue and
#              database overhead of one item.
# Batch times are the server's started_at to finished_at. Runs 2 to 4 share one fresh
# server (SQLite and the local-directory store in a temporary directory).
#
# Settings (environment):
#   BATCH_N=2000            items per batch (and vipsthumbnail inputs)
#   BATCH_BASES=200         distinct generated photographs the N files vary
#   BATCH_WIDTH=640 BATCH_HEIGHT=480  size of the source photographs
#   BATCH_VIPS_CONCURRENCY=1  VIPS_CONCURRENCY of each vipsthumbnail process
#   BATCH_CACHE=~/.cache/pictor-bench  where generated photographs are kept between runs
#   BATCH_PICTOR_BIN=       benchmark this pictor binary instead of building ./cmd/pictor
#   BATCH_KEEP=0            1 keeps the work directory (server logs, data, outputs); a
#                           failed batch keeps it too
#   BATCH_PERF=0            1 records the render batch with `perf record -g` and prints the
#                           hottest symbols and call paths (implies BATCH_KEEP=1)
# PICTOR_* variables in the environment reach the server (e.g. PICTOR_WORKERS).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${BATCH_N:-2000}
BASES=${BATCH_BASES:-200}
W=${BATCH_WIDTH:-640}
H=${BATCH_HEIGHT:-480}
VIPS_CONC=${BATCH_VIPS_CONCURRENCY:-1}
CACHE=${BATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pictor-bench}
KEEP=${BATCH_KEEP:-0}
PERF=${BATCH_PERF:-0}
GO=${GO:-go}
RECIPE='{"steps":[{"op":"resize","width":320,"height":320,"fit":"inside"}],"outputs":[{"name":"t","format":"jpeg","quality":80}]}'

. "$root/benchmarks/lib.sh"
need_perf BATCH_PERF
bench_setup batch "${BATCH_PICTOR_BIN:-}" gen batchload

# Source photographs: generated once and kept in the cache.
src="$CACHE/batch-v1-${W}x${H}-q85-b$BASES-n$N"
if [[ $(find "$src" -name 'variant-*.jpg' 2>/dev/null | wc -l) != "$N" ]]; then
	log "generating $N distinct photographs ($BASES bases) into $src"
	rm -rf "$src" "$src.tmp" "$src.bases"
	"$work/bin/gen" -dir "$src.bases" -n "$BASES" -width "$W" -height "$H" -quality 85 >&2
	"$work/bin/batchload" variants -from "$src.bases" -out "$src.tmp" -n "$N" -quality 85 >&2
	rm -rf "$src.bases"
	mv "$src.tmp" "$src"
fi
mapfile -t files < <(find "$src" -name 'variant-*.jpg' | sort)
src_mib=$(du -sm "$src" | cut -f1)


# --- floor ---------------------------------------------------------------------
# floor_run NAME: vipsthumbnail over all N files, two processes in parallel; keeps
# floor[NAME.rate|ms|cpu|other|cores]. It runs before and after the render batch, and
# the floor is the mean of the two rates: the machine's speed drifts (the same command
# ran at 143 to 187 items/s within half an hour), and the mean of the runs on either
# side cancels a drift that is steady over the few seconds between them.
declare -A floor
floor_run() {
	local name=$1 s u sy made
	vips_floor 320x320 "${files[@]}"
	s=$floor_secs u=$floor_user sy=$floor_sys
	floor[$name.seconds]=$s
	floor[$name.rate]=$(awk -v n="$N" -v s="$s" 'BEGIN { printf "%.1f", n / s }')
	floor[$name.ms]=$(awk -v n="$N" -v s="$s" 'BEGIN { printf "%.2f", s * 1000 / n }')
	floor[$name.cpu]=$(awk -v n="$N" -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", (u + s) * 1000 / n }')
	floor[$name.cores]=$(awk -v t="$s" -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", (u + s) / t }')
	floor[$name.other]=$(awk -v b="$floor_busy" -v u="$u" -v s="$sy" 'BEGIN { printf "%.1f", b - u - s }')
	made=$(find "$work/floor-out" -name '*.jpg' | wc -l)
	if ((made != N)); then
		echo "vipsthumbnail wrote $made files, want $N" >&2
		exit 1
	fi
	floor_dims=$(vipsheader "$work/floor-out/$(basename "${files[0]}")" | awk '{ print $2 }')
}

log "1/5 floor before: 2 x vipsthumbnail, $N images, VIPS_CONCURRENCY=$VIPS_CONC"
floor_run before

# --- Pictor batches ------------------------------------------------------------
log "starting pictor"
start_server server
dir="$work/server"

declare -A result
batch_run() { # batch_run NAME MODE: runs one batch, keeps its figures in result[NAME.*]
	local name=$1 mode=$2 line perf_pid=""
	if [[ $PERF == 1 && $name == render ]]; then
		perf record -q -F 499 -g -p "$server_pid" -o "$work/$name.perf" 2>/dev/null &
		perf_pid=$!
	fi
	if ! line=$("$work/bin/batchload" run -server "$server_url" -pid "$server_pid" -mode "$mode" \
		-dir "$src" -n "$N" -recipe "$RECIPE"); then
		KEEP=1
		echo "batchload failed in run $name; server stderr ($dir/stderr):" >&2
		if grep -qE '^(SIGSEGV|SIGBUS|SIGABRT|fatal error|panic:)' "$dir/stderr"; then
			grep -m 1 -A 40 -E '^(SIGSEGV|SIGBUS|SIGABRT|fatal error|panic:)' "$dir/stderr" >&2
		else
			tail -n 20 "$dir/stderr" >&2
		fi
		exit 1
	fi
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" && wait "$perf_pid" || true
		echo "   hottest symbols of the server ($work/$name.perf):" >&2
		perf report -i "$work/$name.perf" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
			grep "%" | sed "s/[ -]*$//" | head -n 15 | sed 's/^/     /' >&2 || true
		echo "   inclusive, Pictor and River frames:" >&2
		perf report -i "$work/$name.perf" --children --sort symbol --stdio -g none 2>/dev/null | sed "s/[ -]*$//" |
			grep -E '%.*(pictor/|riverqueue/river\.|riversqlite\.\(\*Executor\)|sql\.withLock$|sqlite3Prepare$|Fsync$|gcBgMarkWorker$|sysmon$)' |
			head -n 40 | sed 's/^/     /' >&2 || true
	fi
	echo "   $line" >&2
	for kv in ${line#result }; do result[$name.${kv%%=*}]=${kv#*=}; done
	result[$name.other]=$(awk -v b="${result[$name.machine_busy_s]}" -v c="${result[$name.cpu_s]}" -v l="${result[$name.harness_cpu_s]}" \
		'BEGIN { printf "%.1f", b - c - l }')
}

log "2/5 render batch: $N url rows"
batch_run render url
log "3/5 floor after: 2 x vipsthumbnail (the server idles)"
floor_run after
floor_rate=$(awk -v a="${floor[before.rate]}" -v b="${floor[after.rate]}" 'BEGIN { printf "%.1f", (a + b) / 2 }')
floor_ms=$(awk -v r="$floor_rate" 'BEGIN { printf "%.2f", 1000 / r }')
floor_cpu=$(awk -v a="${floor[before.cpu]}" -v b="${floor[after.cpu]}" 'BEGIN { printf "%.2f", (a + b) / 2 }')
log "4/5 first image_id batch: $N rows, cache hits"
batch_run first ids
log "5/5 queue batch: $N image_id rows again, cache hits"
batch_run queue ids

stop_server

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v < t; print ok ? "met" : "MISSED" }'; }

rate_ratio=$(ratio "${result[render.rate]}" "$floor_rate")
cpu_ratio=$(ratio "$floor_cpu" "${result[render.cpu_ms_per_item]}")
extra_ms=$(awk -v a="${result[render.ms_per_item]}" -v b="$floor_ms" 'BEGIN { printf "%.2f", a - b }')
queue_ms=${result[queue.ms_per_item]}

echo
echo "Pictor batch benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), vips $(vips --version | cut -d- -f2)"
echo "input: $N distinct ${W}x${H} JPEG q85 photographs ($src_mib MiB); output fit 320x320 ($floor_dims), JPEG q80; SQLite + local store"
echo
row() { printf '%-34s %8s %8s %8s %10s %6s %9s %8s\n' "$@"; }
cores() { awk -v c="$1" -v s="$2" 'BEGIN { printf "%.2f", c / s }'; }
row run items/s seconds ms/item cpu_ms/item cores harness_s other_s
for f in before after; do
	row "floor $f: 2 x vipsthumbnail" "${floor[$f.rate]}" "${floor[$f.seconds]}" "${floor[$f.ms]}" "${floor[$f.cpu]}" \
		"${floor[$f.cores]}" - "${floor[$f.other]}"
done
for r in render first queue; do
	case $r in
	render) label="render: url rows" ;;
	first) label="first: image_id rows, cache hits" ;;
	queue) label="queue: image_id rows, cache hits" ;;
	esac
	row "$label" "${result[$r.rate]}" "${result[$r.seconds]}" "${result[$r.ms_per_item]}" "${result[$r.cpu_ms_per_item]}" \
		"$(cores "${result[$r.cpu_s]}" "${result[$r.seconds]}")" "${result[$r.harness_cpu_s]}" "${result[$r.other]}"
done
echo
echo "seconds: the batch's started_at to finished_at (server clock), or vipsthumbnail's wall time."
echo "cpu_ms/item: CPU of the Pictor server (or both vipsthumbnail processes) per item; cores: that CPU"
echo "over the wall time. harness_s: CPU seconds of batchload (source server, polling). other_s: CPU"
echo "seconds every other process took meanwhile; well above 0 means other work disturbed the figures."
echo
printf 'batch / floor items per second:     %5sx  (target >= 0.80: %s; floor = mean of before and after, %s items/s)\n' \
	"$rate_ratio" "$(verdict "$rate_ratio" 0.8 '>=')" "$floor_rate"
printf 'queue overhead per item (queue):    %5s ms (target < 5 ms: %s)\n' "$queue_ms" "$(verdict "$queue_ms" 5 '<')"
printf 'CPU per item, floor / batch:        %5sx  wall per item, batch - floor: %s ms\n' "$cpu_ratio" "$extra_ms"
