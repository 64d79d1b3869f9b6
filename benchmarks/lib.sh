# Shared set-up of the benchmark scripts (sourced by run.sh and batch.sh).
# bench_setup NAME PICTOR_BIN TOOLS...: makes $work (removed at exit unless KEEP=1, and the
# server $server_pid is stopped), installs vipsthumbnail if missing, and builds pictor
# (or copies PICTOR_BIN) and each ./benchmarks/TOOL into $work/bin. Needs root, GO, KEEP.

log() { printf '== %s\n' "$*" >&2; }

bench_setup() {
	local name=$1 bin=$2
	shift 2
	work=$(mktemp -d "${TMPDIR:-/tmp}/pictor-$name.XXXXXX")
	server_pid=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM

	# vipsthumbnail is in Debian's libvips-tools.
	if ! command -v vipsthumbnail >/dev/null; then
		log "installing libvips-tools for vipsthumbnail"
		local sudo=""
		[[ $(id -u) == 0 ]] || sudo=sudo
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libvips-tools >/dev/null
	fi

	mkdir -p "$work/bin"
	if [[ -n $bin ]]; then
		log "using $bin; building $*"
		cp "$bin" "$work/bin/pictor"
	else
		log "building pictor and $*"
		(cd "$root" && $GO build -o "$work/bin/pictor" ./cmd/pictor)
	fi
	local tool
	for tool in "$@"; do
		(cd "$root" && $GO build -o "$work/bin/$tool" "./benchmarks/$tool")
	done
}

bench_cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ $KEEP == 1 ]]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}

# machine_busy prints the CPU seconds all cores have spent not idle since boot.
machine_busy() { awk '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat; }

# vips_floor SIZE FILE...: libvips' own thumbnailer over the files, two processes in parallel
# each given half of them in one invocation (VIPS_CONCURRENCY=$VIPS_CONC), writing
# $work/floor-out/NAME.jpg (q80, stripped; emptied first). Sets floor_secs, floor_user and
# floor_sys (wall, user and system seconds of both processes) and floor_busy (CPU seconds
# the whole machine spent meanwhile).
vips_floor() {
	local size=$1 busy0 busy1
	shift
	local half=$(($# / 2)) out="$work/floor-out/%s.jpg[Q=80,strip]"
	rm -rf "$work/floor-out"
	mkdir -p "$work/floor-out"
	busy0=$(machine_busy)
	{
		TIMEFORMAT='%R %U %S'
		time (
			VIPS_CONCURRENCY=$VIPS_CONC vipsthumbnail --size "$size" -o "$out" "${@:1:half}" &
			p1=$!
			VIPS_CONCURRENCY=$VIPS_CONC vipsthumbnail --size "$size" -o "$out" "${@:half+1}" &
			p2=$!
			wait "$p1" && wait "$p2"
		)
	} 2>"$work/floor-time"
	busy1=$(machine_busy)
	read -r floor_secs floor_user floor_sys < <(tail -n 1 "$work/floor-time")
	floor_busy=$(awk -v a="$busy0" -v b="$busy1" 'BEGIN { printf "%.2f", b - a }')
}
