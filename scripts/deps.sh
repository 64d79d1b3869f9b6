#!/usr/bin/env bash
# deps.sh installs what Pictor needs to build and test, and nothing that is
# already there. It is idempotent and quick when everything is present.
#
#   scripts/deps.sh            libvips-dev, PostgreSQL, a MinIO server binary
#   scripts/deps.sh --browser  the same, plus Chromium for the console tests
#   scripts/deps.sh --runtime  only what building and running Pictor needs (libvips-dev)
#
# System packages come from Debian apt (apt-get update runs only when an
# install is needed). MinIO is built from source with the Go toolchain into
# ${PICTOR_CACHE:-$HOME/.cache/pictor}/bin; it is a separate binary and is
# never linked into Pictor.
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

cache="${PICTOR_CACHE:-${HOME:-/root}/.cache/pictor}"
browser=0
services=1
for arg in "$@"; do
	case "$arg" in
	--browser) browser=1 ;;
	--runtime) services=0 ;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	*)
		echo "deps.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "deps: $*" >&2; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi

missing=()
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists vips; then
	missing+=(pkg-config libvips-dev)
fi
if [ "$services" -eq 1 ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	missing+=(postgresql)
fi
if [ "$browser" -eq 1 ] && ! command -v chromium >/dev/null 2>&1; then
	missing+=(chromium)
fi
# The test environment script probes ports with ss and drops privileges with
# runuser; both are in the Debian base system, but check anyway.
if [ "$services" -eq 1 ] && ! command -v ss >/dev/null 2>&1; then
	missing+=(iproute2)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo_cmd[@]}" apt-get update -qq
	"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The Debian postgresql package starts a cluster of its own; tests use a
	# private one (scripts/testenv.sh), so stop the packaged one if it runs.
	if printf '%s\n' "${missing[@]}" | grep -qx postgresql; then
		"${sudo_cmd[@]}" service postgresql stop >/dev/null 2>&1 || true
	fi
fi

minio="$cache/bin/minio"
if [ "$services" -eq 1 ] && [ ! -x "$minio" ]; then
	mkdir -p "$cache/bin"
	# One build at a time: a second caller waits for the first and then finds
	# the binary there.
	exec 9>"$cache/minio.lock"
	flock 9
	if [ ! -x "$minio" ]; then
		if ! command -v go >/dev/null 2>&1; then
			log "go is not on PATH; cannot build MinIO"
			exit 1
		fi
		log "building MinIO $MINIO_VERSION into $cache/bin (takes a few minutes, once)"
		# Outside any module, so Pictor's go.mod is never touched.
		(cd "$cache" && GOBIN="$cache/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
			go install "$MINIO_MODULE@$MINIO_VERSION")
	fi
	flock -u 9
	exec 9>&-
fi
