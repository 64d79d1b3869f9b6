# Shared set-up of the benchmark scripts (sourced by run.sh and batch.sh): bench_setup,
# need_perf, machine_busy, vips_floor, start_server and stop_server.
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

# need_perf VAR: with perf requested (PERF=1), keeps the work directory (KEEP=1) and fails
# when perf is missing; VAR names the setting in the message.
need_perf() {
	[[ $PERF == 1 ]] || return 0
	KEEP=1
	command -v perf >/dev/null || { echo "$1=1 needs perf (Debian: linux-perf)" >&2; exit 1; }
}

# start_server NAME [BIN]: starts BIN (default $work/bin/pictor) serve on a loopback port with a fresh data directory
# $work/NAME/data (SQLite and the local store; PICTOR_* variables of the environment reach
# it) and sets server_pid and server_url. The per-caller rate limit is off: the benchmarks
# measure capacity, from one address.
start_server() {
	local dir="$work/$1" bin=${2:-$work/bin/pictor} i
	rm -rf "$dir"
	mkdir -p "$dir/data"
	PICTOR_DATA_DIR="$dir/data" PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8 PICTOR_LOG_LEVEL=warn PICTOR_RATE_LIMIT=0 \
		"$bin" serve -addr 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr" &
	server_pid=$!
	server_url=""
	for ((i = 0; i < 300; i++)); do
		server_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/stdout" 2>/dev/null | head -1 || true)
		[[ -n $server_url ]] && return 0
		if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "pictor did not start; its stderr:" >&2
	cat "$dir/stderr" >&2
	exit 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# free_port prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# start_imgproxy NAME BIN: starts the imgproxy binary BIN on a free loopback port with its
# defaults, except that sources on loopback addresses are allowed (the benchmark's source
# server is there) and a request may take up to 300 s instead of 10 (at 32 clients on a
# busy 2-core machine queued requests pass 10 s; Pictor sets no such limit), and sets
# server_pid and server_url; logs go to $work/NAME.
start_imgproxy() {
	local dir="$work/$1" bin=$2 port i
	rm -rf "$dir"
	mkdir -p "$dir"
	port=$(free_port)
	IMGPROXY_BIND="127.0.0.1:$port" IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=true IMGPROXY_TIMEOUT=300 IMGPROXY_LOG_LEVEL=warn \
		"$bin" >"$dir/stdout" 2>"$dir/stderr" &
	server_pid=$!
	server_url="http://127.0.0.1:$port"
	for ((i = 0; i < 300; i++)); do
		curl -fsS -o /dev/null "$server_url/health" 2>/dev/null && return 0
		if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "imgproxy did not start; its stderr:" >&2
	cat "$dir/stderr" >&2
	exit 1
}
