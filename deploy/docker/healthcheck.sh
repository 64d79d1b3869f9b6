#!/bin/bash
# pictor-healthcheck: the container HEALTHCHECK. It sends one HTTP GET to the
# local server with bash's /dev/tcp, so the runtime image needs no curl or wget,
# and exits 0 only on a 200 answer.
#
#   pictor-healthcheck [PATH [ADDR]]
#
# PATH defaults to /healthz; ADDR defaults to $PICTOR_ADDR, then :8080. A
# wildcard or empty host (":8080", "0.0.0.0:8080", "[::]:8080") is probed on
# 127.0.0.1. The stand-in WebUI is probed with
#   pictor-healthcheck '/sdapi/v1/progress?skip_current_image=true' :7861
set -u

path="${1:-/healthz}"
addr="${2:-${PICTOR_ADDR:-:8080}}"
timeout="${PICTOR_HEALTHCHECK_TIMEOUT:-4}"

port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
"" | 0.0.0.0 | ::) host=127.0.0.1 ;;
esac
case "$port" in
"" | *[!0-9]*)
	echo "pictor-healthcheck: no port in address ${addr}" >&2
	exit 2
	;;
esac

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
	echo "pictor-healthcheck: cannot connect to ${host}:${port}" >&2
	exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: pictor-healthcheck\r\nConnection: close\r\n\r\n' "$path" "localhost" >&3
status=""
IFS= read -r -t "$timeout" status <&3 || true
exec 3<&- 3>&-
status="${status%$'\r'}"
case "$status" in
"HTTP/1."?" 200"*) exit 0 ;;
esac
echo "pictor-healthcheck: GET ${path} on ${host}:${port}: ${status:-no answer}" >&2
exit 1
