#!/usr/bin/env bash
# testenv.sh starts and stops the services that Pictor's tests run against:
# a private PostgreSQL cluster and a MinIO server, both on free loopback ports.
#
#   scripts/testenv.sh start   start both, write $STATE/env
#   scripts/testenv.sh env     print $STATE/env (KEY=VALUE lines)
#   scripts/testenv.sh stop    stop both and remove their data
#
# STATE is $PICTOR_TESTENV_STATE, default ${PICTOR_CACHE:-$HOME/.cache/pictor}/testenv.
# PICTOR_MINIO_BIN overrides the MinIO binary (default the one deps.sh builds).
# Give each concurrent run its own PICTOR_TESTENV_STATE (make test does).
# Use it by hand:
#   scripts/testenv.sh start && set -a && . <(scripts/testenv.sh env) && set +a
#   go test ./storage/...
#   scripts/testenv.sh stop
set -euo pipefail

cache="${PICTOR_CACHE:-${HOME:-/root}/.cache/pictor}"
state="${PICTOR_TESTENV_STATE:-$cache/testenv}"
minio_bin="${PICTOR_MINIO_BIN:-$cache/bin/minio}"
wait_seconds=60

log() { echo "testenv: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# as_postgres runs a command as the postgres OS user when we are root
# (PostgreSQL refuses to run as root), and as ourselves otherwise.
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_bindir() {
	local d
	d=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
	[ -n "$d" ] || die "PostgreSQL is not installed (run scripts/deps.sh)"
	dirname "$d"
}

# port_busy reports whether something listens on 127.0.0.1:$1.
port_busy() {
	if command -v ss >/dev/null 2>&1; then
		ss -Htln "sport = :$1" 2>/dev/null | grep -q .
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# free_port sets REPLY to a port in 20000-59999 that nothing listens on and
# that no earlier call of this run handed out.
taken_ports=" "
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		case "$taken_ports" in *" $p "*) continue ;; esac
		if ! port_busy "$p"; then
			taken_ports="$taken_ports$p "
			REPLY=$p
			return 0
		fi
	done
	die "no free port found"
}

# http_status prints the status code of GET http://127.0.0.1:$1$2 (000 when
# there is no answer), using only bash.
http_status() {
	local line=""
	{
		if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
			printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$2" "$1" >&3
			IFS= read -r -t 2 line <&3 || true
			exec 3>&-
		fi
	} 2>/dev/null
	case "$line" in
	"HTTP/1."?" "[0-9][0-9][0-9]*) echo "${line:9:3}" ;;
	*) echo 000 ;;
	esac
}

# minio_ready reports whether MinIO on port $1 is live and its S3 API is
# initialised: an anonymous ListBuckets is refused with 403 instead of the
# 503 "Server not initialized yet" it gives for a moment after it is live.
minio_ready() {
	[ "$(http_status "$1" /minio/health/live)" = 200 ] || return 1
	local s
	s=$(http_status "$1" /)
	[ "$s" != 000 ] && [ "$s" -lt 500 ]
}

start_postgres() {
	local bindir dir port i
	bindir=$(pg_bindir)
	# In /tmp, not $TMPDIR: the postgres user must be able to reach it, and
	# the unix socket path must stay short.
	dir=$(mktemp -d /tmp/pictor-pg.XXXXXX)
	chmod 0755 "$dir"
	echo "$dir" >"$state/pg.dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$state/pg-initdb.log" 2>&1 ||
		{ cat "$state/pg-initdb.log" >&2; die "initdb failed"; }
	for i in 1 2 3 4 5; do
		free_port
		port=$REPLY
		if as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$wait_seconds" \
			-o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir \
			-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
			-c max_connections=300 -c shared_buffers=64MB" start >/dev/null 2>&1; then
			break
		fi
		# Most likely another run took the port between our check and the bind.
		port=""
	done
	[ -n "$port" ] || { cat "$dir/postgres.log" >&2 || true; die "postgres did not start"; }
	echo "$port" >"$state/pg.port"
	as_postgres "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres pictor_test ||
		die "createdb pictor_test failed"
	log "postgres on 127.0.0.1:$port ($dir)"
}

start_minio() {
	local dir port cport pid i ok user pass
	[ -x "$minio_bin" ] || die "MinIO binary not found at $minio_bin (run scripts/deps.sh)"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/pictor-minio.XXXXXX")
	echo "$dir" >"$state/minio.dir"
	user="pictor"
	pass="pictor-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	for i in 1 2 3 4 5; do
		free_port
		port=$REPLY
		free_port
		cport=$REPLY
		MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" MINIO_UPDATE=off \
			MINIO_BROWSER=off MINIO_CI_CD=1 \
			nohup "$minio_bin" server "$dir/data" --quiet \
			--address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
			>"$dir/minio.log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$state/minio.pid"
		ok=0
		for _ in $(seq 1 $((wait_seconds * 5))); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if minio_ready "$port"; then
				ok=1
				break
			fi
			sleep 0.2
		done
		if [ "$ok" -eq 1 ]; then
			break
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		port=""
	done
	[ -n "$port" ] || { cat "$dir/minio.log" >&2 || true; die "minio did not become live in ${wait_seconds}s"; }
	echo "$port" >"$state/minio.port"
	{
		echo "PICTOR_TEST_S3_ENDPOINT=127.0.0.1:$port"
		echo "PICTOR_TEST_S3_ACCESS_KEY=$user"
		echo "PICTOR_TEST_S3_SECRET_KEY=$pass"
	} >"$state/minio.env"
	log "minio on 127.0.0.1:$port ($dir)"
}

cmd_start() {
	if [ -f "$state/env" ]; then
		die "already started ($state/env exists); run stop first"
	fi
	mkdir -p "$state"
	# Clean up whatever half started if anything below fails.
	trap 'if [ ! -f "$state/env" ]; then cmd_stop >/dev/null 2>&1 || true; fi' EXIT
	start_postgres
	start_minio
	local chromium=""
	chromium=$(command -v chromium || command -v chromium-browser || true)
	{
		echo "PICTOR_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$(cat "$state/pg.port")/pictor_test?sslmode=disable"
		cat "$state/minio.env"
		echo "PICTOR_TEST_MINIO_BIN=$minio_bin"
		if [ -n "$chromium" ]; then
			echo "PICTOR_TEST_CHROMIUM=$chromium"
		fi
		echo "PICTOR_TEST_REQUIRE_SERVICES=1"
	} >"$state/env.tmp"
	mv "$state/env.tmp" "$state/env"
}

cmd_stop() {
	local dir pid bindir
	[ -d "$state" ] || return 0
	if [ -f "$state/minio.pid" ]; then
		pid=$(cat "$state/minio.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	if [ -f "$state/pg.dir" ]; then
		dir=$(cat "$state/pg.dir")
		if [ -f "$dir/data/postmaster.pid" ]; then
			bindir=$(pg_bindir)
			as_postgres "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		case "$dir" in */pictor-pg.*) rm -rf "$dir" ;; esac
	fi
	if [ -f "$state/minio.dir" ]; then
		dir=$(cat "$state/minio.dir")
		case "$dir" in */pictor-minio.*) rm -rf "$dir" ;; esac
	fi
	rm -f "$state/env" "$state/env.tmp" "$state/minio.env" "$state/minio.pid" "$state/minio.port" \
		"$state/minio.dir" "$state/pg.dir" "$state/pg.port" "$state/pg-initdb.log"
	rmdir "$state" 2>/dev/null || true
}

cmd_env() {
	[ -f "$state/env" ] || die "not started ($state/env missing)"
	cat "$state/env"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
