#!/usr/bin/env bash
# validate-deploy.sh checks the deployment files that `go test` cannot run:
#
#   promtool check rules   deploy/prometheus/alerts.yaml
#   promtool test rules    deploy/prometheus/alerts_test.yaml (alerts fire when they should)
#   promtool check config  deploy/prometheus/prometheus.yml
#
# promtool comes from Debian's prometheus package, unpacked (never installed,
# so no Prometheus daemon is ever started) into ${PICTOR_CACHE:-$HOME/.cache/pictor}/bin;
# the second run finds it there and takes about a second.
#
# The Kubernetes manifests are not given to kubeconform: it downloads its JSON
# schemas from the internet and embeds none. The tests in deploy/ (a module of
# its own; `make test` runs them) decode every manifest strictly into the
# k8s.io/api types instead, load deploy/compose.yaml with compose-go, and check
# the dashboard and these rules against the metrics a running pictor exports.
# Pass --go to run them here too.
#
# Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")/.."
cache="${PICTOR_CACHE:-${HOME:-/root}/.cache/pictor}"
run_go=0
for arg in "$@"; do
	case "$arg" in
	--go) run_go=1 ;;
	-h | --help)
		sed -n '2,19p' "$0"
		exit 0
		;;
	*)
		echo "validate-deploy.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "validate-deploy: $*" >&2; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi

# ensure_promtool puts promtool at $cache/bin/promtool unless one is there.
ensure_promtool() {
	promtool="$cache/bin/promtool"
	if [ -x "$promtool" ]; then
		return
	fi
	mkdir -p "$cache/bin"
	exec 8>"$cache/promtool.lock"
	flock 8
	if [ ! -x "$promtool" ]; then
		local work
		work="$(mktemp -d "${TMPDIR:-/tmp}/pictor-promtool.XXXXXX")"
		# apt's _apt user must be able to write the download directory.
		chmod 0755 "$work"
		log "fetching Debian's prometheus package for promtool (once)"
		if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
			log "apt-get update, then retrying the download"
			"${sudo_cmd[@]}" apt-get update -qq
			(cd "$work" && apt-get download prometheus >/dev/null)
		fi
		dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
		install -m 0755 "$work/root/usr/bin/promtool" "$promtool.tmp"
		mv "$promtool.tmp" "$promtool"
		rm -rf "$work"
	fi
	flock -u 8
	exec 8>&-
}

ensure_promtool
log "$("$promtool" --version 2>&1 | head -n1)"

log "promtool check rules deploy/prometheus/alerts.yaml"
"$promtool" check rules deploy/prometheus/alerts.yaml

log "promtool test rules deploy/prometheus/alerts_test.yaml"
"$promtool" test rules deploy/prometheus/alerts_test.yaml

# prometheus.yml names the rules file by its path inside the Prometheus
# container; check a copy that points at the file in this tree.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pictor-promcfg.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp deploy/prometheus/alerts.yaml "$tmp/alerts.yaml"
sed "s#/etc/prometheus/alerts.yaml#$tmp/alerts.yaml#" deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
if ! grep -q "$tmp/alerts.yaml" "$tmp/prometheus.yml"; then
	log "deploy/prometheus/prometheus.yml no longer loads /etc/prometheus/alerts.yaml"
	exit 1
fi
log "promtool check config deploy/prometheus/prometheus.yml"
"$promtool" check config "$tmp/prometheus.yml"

log "Kubernetes manifests, compose file and dashboard: checked by go test -C deploy ./..."
if [ "$run_go" -eq 1 ]; then
	go test -C deploy -count=1 ./...
fi
log "ok"
