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
