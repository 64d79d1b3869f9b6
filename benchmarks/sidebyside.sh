#!/usr/bin/env bash
# Pictor side by side with imgproxy on the listing path (issue 13); see benchmarks/README.md.
#
# Both servers get the same work from loadgen: sources served from memory on loopback,
# every request naming a distinct source (-unique: a JPEG comment makes each request's
# bytes distinct) and distinct processing options of the same output size, so nothing can
# come from a cache. Pictor runs on its defaults (SQLite, the local store) with
# PICTOR_RATE_LIMIT=0; imgproxy on its defaults with loopback sources allowed and
# IMGPROXY_TIMEOUT=300 (see start_imgproxy in lib.sh). Each run
# starts a fresh server. Cases:
#   prog8   3840x2160 progressive JPEG (q99) -> fit 800x800, JPEG q80, 8 clients
#   prog32  the same, 32 clients
#   base4   2560x1600 baseline JPEG (q90) -> fit 800x800, JPEG q80, 4 clients
#   two4    base4 plus a 200x200 cover thumb: one Pictor request with two outputs,
#           two imgproxy requests (main, then thumb) from the same client
#   avif4   base4 with an AVIF q80 output instead of JPEG
#   webp4   base4 with a WebP q80 output
#   srgb4   base4 with every source tagged with an sRGB profile built like HP's
#           IEC61966-2.1, the one most photographs with a profile carry
#   p3base4 base4 with every source tagged with a Display P3 profile (loadgen -icc-from)
#   rot4    base4 with every source stored on its side (EXIF orientation 6, as phones
#           write), so the output is 500x800
#           (no targets in issue 13 for these five: they show whether Pictor's encoders,
#           colour handling and orientation cost what imgproxy's do)
# Every case runs BENCH_ROUNDS times, the servers' order alternating by round; the table
# gives medians of req/s (image pairs/s for two4), p99, peak RSS (VmHWM) and output bytes.
#
# Settings (environment):
#   BENCH_IMGPROXY_BIN=    the imgproxy binary; without it Pictor runs alone and the
#                          side-by-side is reported as skipped
#   BENCH_BEFORE_BIN=      another pictor binary (say, built before a change) to run as a
#                          third server, "before", in the same interleaved rounds
#   BENCH_ROUNDS=3
#   BENCH_N_PROG=32        requests per prog8 run (prog32 runs 3x as many)
#   BENCH_N_BASE=160       requests per base4 and two4 run
#   BENCH_N_FMT=96         requests per avif4 and webp4 run (srgb4, p3base4 and rot4 run BENCH_N_BASE)
#   BENCH_PROG_FILES=16    distinct progressive photographs
#   BENCH_BASE_FILES=64    distinct baseline photographs (shared with run.sh's cache)
#   BENCH_CASES="prog8 prog32 base4 two4 avif4 webp4 srgb4 p3base4 rot4"
#   BENCH_CACHE, BENCH_PICTOR_BIN, BENCH_KEEP as in run.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMGPROXY_BIN=${BENCH_IMGPROXY_BIN:-}
BEFORE_BIN=${BENCH_BEFORE_BIN:-}
ROUNDS=${BENCH_ROUNDS:-3}
N_PROG=${BENCH_N_PROG:-32}
N_BASE=${BENCH_N_BASE:-160}
N_FMT=${BENCH_N_FMT:-96}
PROG_FILES=${BENCH_PROG_FILES:-16}
BASE_FILES=${BENCH_BASE_FILES:-64}
CASES=${BENCH_CASES:-prog8 prog32 base4 two4 avif4 webp4 srgb4 p3base4 rot4}
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pictor-bench}
KEEP=${BENCH_KEEP:-0}
PERF=0
GO=${GO:-go}

. "$root/benchmarks/lib.sh"
if [[ -n $IMGPROXY_BIN && ! -x $IMGPROXY_BIN ]]; then
	echo "BENCH_IMGPROXY_BIN=$IMGPROXY_BIN is not an executable file" >&2
	exit 1
fi
bench_setup sidebyside "${BENCH_PICTOR_BIN:-}" loadgen gen

# Sources, generated once and kept in the cache. Progressive files are made from
# baseline q100 ones by libvips' own encoder (Go's has no progressive mode).
base="$CACHE/photos-v1-2560x1600-q90-n$BASE_FILES"
if [[ $(find "$base" -name 'photo-*.jpg' 2>/dev/null | wc -l) != "$BASE_FILES" ]]; then
	log "generating $BASE_FILES baseline photographs into $base"
	rm -rf "$base"
	"$work/bin/gen" -dir "$base.tmp" -n "$BASE_FILES" -width 2560 -height 1600 -quality 90 >&2
	mv "$base.tmp" "$base"
fi
prog="$CACHE/progressive-v1-3840x2160-q99-n$PROG_FILES"
if [[ $(find "$prog" -name 'photo-*.jpg' 2>/dev/null | wc -l) != "$PROG_FILES" ]]; then
	log "generating $PROG_FILES progressive photographs into $prog"
	rm -rf "$prog" "$prog.tmp" "$prog.src"
	"$work/bin/gen" -dir "$prog.src" -n "$PROG_FILES" -width 3840 -height 2160 -quality 100 -seed 1001 >&2
	mkdir -p "$prog.tmp"
	for f in "$prog.src"/photo-*.jpg; do
		vips jpegsave "$f" "$prog.tmp/$(basename "$f")" --Q 99 --interlace
	done
	rm -rf "$prog.src"
	mv "$prog.tmp" "$prog"
fi
prog_mib=$(du -sm "$prog" | cut -f1)

# case_args CASE: loadgen arguments of a case (source directory, clients, requests, outputs).
case_args() {
	case $1 in
	prog8) echo "-dir $prog -c 8 -n $N_PROG -outputs 1" ;;
	prog32) echo "-dir $prog -c 32 -n $((3 * N_PROG)) -outputs 1" ;;
	base4) echo "-dir $base -c 4 -n $N_BASE -outputs 1" ;;
	two4) echo "-dir $base -c 4 -n $N_BASE -outputs 2 -thumb-fit cover" ;;
	avif4) echo "-dir $base -c 4 -n $N_FMT -outputs 1 -format avif" ;;
	webp4) echo "-dir $base -c 4 -n $N_FMT -outputs 1 -format webp" ;;
	srgb4) echo "-dir $base -c 4 -n $N_BASE -outputs 1 -icc-from srgb-hp" ;;
	p3base4) echo "-dir $base -c 4 -n $N_BASE -outputs 1 -icc-from $root/imaging/testdata/display-p3.jpg" ;;
	rot4) echo "-dir $base -c 4 -n $N_BASE -outputs 1 -orientation 6" ;;
	*)
		echo "unknown case $1" >&2
		exit 1
		;;
	esac
}

# samples[SERVER.CASE.KEY] holds the space-separated values of every round.
declare -A samples
one_run() { # one_run SERVER CASE ROUND
	local server=$1 name=$2 round=$3 line kv target=pictor
	case $server in
	pictor) start_server "$server-$name-$round" ;;
	before) start_server "$server-$name-$round" "$BEFORE_BIN" ;;
	imgproxy)
		start_imgproxy "$server-$name-$round" "$IMGPROXY_BIN"
		target=imgproxy
		;;
	esac
	# shellcheck disable=SC2046 # case_args is split on purpose
	if ! line=$("$work/bin/loadgen" -target "$target" -server "$server_url" $(case_args "$name") \
		-unique -warmup 2 -tag "$name$round" -pid "$server_pid"); then
		local kept="${TMPDIR:-/tmp}/pictor-sidebyside-$server-$name-$round.stderr"
		cp "$work/$server-$name-$round/stderr" "$kept"
		echo "loadgen failed in $server $name round $round; server stderr kept in $kept; its start and end:" >&2
		head -n 30 "$kept" >&2
		echo "..." >&2
		tail -n 20 "$kept" >&2
		exit 1
	fi
	stop_server
	echo "   $server $name: $line" >&2
	declare -A r=()
	for kv in ${line#result }; do
		r[${kv%%=*}]=${kv#*=}
		samples[$server.$name.${kv%%=*}]+="${kv#*=} "
	done
	# What other processes took meanwhile: all busy CPU minus the server's and loadgen's.
	samples[$server.$name.other]+="$(awk -v b="${r[machine_busy_s]}" -v c="${r[cpu_s]}" -v l="${r[loadgen_cpu_s]}" 'BEGIN { printf "%.2f", b - c - l }') "
}

servers=(pictor)
[[ -n $IMGPROXY_BIN ]] && servers+=(imgproxy)
[[ -n $BEFORE_BIN ]] && servers+=(before)
for ((round = 1; round <= ROUNDS; round++)); do
	for name in $CASES; do
		log "round $round/$ROUNDS: $name"
		order=("${servers[@]}")
		((round % 2 == 1)) || mapfile -t order < <(printf '%s\n' "${servers[@]}" | tac)
		for s in "${order[@]}"; do one_run "$s" "$name" "$round"; done
	done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { median "${samples[$1.$2.$3]:-}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "-") { print "-"; exit } ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "MISSED" }'; }
label() {
	case $1 in
	prog8) echo "3840x2160 progressive -> fit 800, 8 clients" ;;
	prog32) echo "3840x2160 progressive -> fit 800, 32 clients" ;;
	base4) echo "2560x1600 baseline -> fit 800, 4 clients" ;;
	two4) echo "base4 + 200x200 cover (pairs/s), 4 clients" ;;
	avif4) echo "2560x1600 baseline -> fit 800 AVIF, 4 clients" ;;
	webp4) echo "2560x1600 baseline -> fit 800 WebP, 4 clients" ;;
	srgb4) echo "2560x1600 baseline, sRGB profile -> fit 800" ;;
	p3base4) echo "2560x1600 baseline in Display P3 -> fit 800" ;;
	rot4) echo "2560x1600 baseline on its side -> fit 800" ;;
	esac
}

echo
echo "Pictor side by side with imgproxy, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), vips $(vips --version | cut -d- -f2), $ROUNDS rounds, medians"
echo "sources: $PROG_FILES progressive 3840x2160 q99 ($prog_mib MiB), $BASE_FILES baseline 2560x1600 q90; every request a distinct source; q80 out, JPEG unless the case names a format"
[[ -z $BEFORE_BIN ]] || echo "before: $BEFORE_BIN"
if [[ -z $IMGPROXY_BIN ]]; then
	echo "imgproxy: SKIPPED (set BENCH_IMGPROXY_BIN to an imgproxy binary for the side-by-side)"
else
	echo "imgproxy: $IMGPROXY_BIN ($("$IMGPROXY_BIN" version 2>/dev/null || echo 'version unknown'))"
fi
echo
row() { printf '%-46s %-8s %8s %8s %8s %9s %9s %8s %8s\n' "$@"; }
row case server "req/s" p99_ms rss_MiB main_B thumb_B cpu_ms other_s
for name in $CASES; do
	for s in "${servers[@]}"; do
		row "$(label "$name")" "$s" "$(med "$s" "$name" rate)" "$(med "$s" "$name" p99_ms)" "$(med "$s" "$name" peak_rss_mib)" \
			"$(med "$s" "$name" main_bytes)" "$(med "$s" "$name" thumb_bytes)" "$(med "$s" "$name" cpu_ms_per_image)" "$(med "$s" "$name" other)"
	done
done
echo
echo "cpu_ms: the server's CPU per request (or per pair). rss_MiB: the server's VmHWM at the end of the run."
echo "other_s: CPU seconds other processes took during the run (well above 0: the figures are disturbed)."
echo
has() { [[ " $CASES " == *" $1 "* ]]; }
if has base4 && has two4; then
	second=$(awk -v a="$(med pictor base4 rate)" -v b="$(med pictor two4 rate)" 'BEGIN { printf "%.2f", a / b - 1 }')
	second_cpu=$(awk -v a="$(med pictor base4 cpu_ms_per_image)" -v b="$(med pictor two4 cpu_ms_per_image)" 'BEGIN { printf "%.2f", b / a - 1 }')
	printf 'pictor: a second output costs %sx the first (rate1/rate2 - 1; target <= 0.25: %s); on CPU %sx\n' "$second" "$(verdict "$second" 0.25 '<=')" "$second_cpu"
fi
if [[ -n $IMGPROXY_BIN ]]; then
	for name in $CASES; do
		r=$(ratio "$(med pictor "$name" rate)" "$(med imgproxy "$name" rate)")
		case $name in
		two4) want=1.6 ;;
		avif4 | webp4 | srgb4 | p3base4 | rot4) want="" ;;
		*) want=1.1 ;;
		esac
		if [[ -z $want ]]; then
			printf 'pictor / imgproxy req/s, %-7s %5sx (no target)\n' "$name:" "$r"
			continue
		fi
		printf 'pictor / imgproxy req/s, %-7s %5sx (target >= %s: %s)\n' "$name:" "$r" "$want" "$(verdict "$r" "$want" '>=')"
	done
	for name in $CASES; do
		r=$(ratio "$(med pictor "$name" main_bytes)" "$(med imgproxy "$name" main_bytes)")
		printf 'pictor / imgproxy output bytes, %-7s %5sx (target 0.95-1.05: %s)\n' "$name:" "$r" \
			"$(awk -v r="$r" 'BEGIN { print (r >= 0.95 && r <= 1.05) ? "met" : "MISSED" }')"
	done
	if has prog32; then
		r=$(ratio "$(med pictor prog32 peak_rss_mib)" "$(med imgproxy prog32 peak_rss_mib)")
		printf 'pictor / imgproxy peak RSS at 32 clients: %sx (target <= 0.8: %s)\n' "$r" "$(verdict "$r" 0.8 '<=')"
		r=$(ratio "$(med pictor prog32 p99_ms)" "$(med imgproxy prog32 p99_ms)")
		printf 'pictor / imgproxy p99 at 32 clients:      %sx (target <= 1.0: %s)\n' "$r" "$(verdict "$r" 1.0 '<=')"
	fi
else
	echo "side-by-side with imgproxy: SKIPPED (BENCH_IMGPROXY_BIN unset)"
fi
if [[ -n $BEFORE_BIN ]]; then
	for name in $CASES; do
		printf 'pictor / before, %-7s req/s %5sx  p99 %5sx  peak RSS %5sx  CPU per request %5sx\n' "$name:" \
			"$(ratio "$(med pictor "$name" rate)" "$(med before "$name" rate)")" \
			"$(ratio "$(med pictor "$name" p99_ms)" "$(med before "$name" p99_ms)")" \
			"$(ratio "$(med pictor "$name" peak_rss_mib)" "$(med before "$name" peak_rss_mib)")" \
			"$(ratio "$(med pictor "$name" cpu_ms_per_image)" "$(med before "$name" cpu_ms_per_image)")"
	done
fi
