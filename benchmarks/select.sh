#!/usr/bin/env bash
# Pictor selection benchmark (issue 14): `bash benchmarks/select.sh`; results in
# benchmarks/README.md ("Selections over a million images").
#
# Starts a private PostgreSQL (scripts/testenv.sh, with its own state directory; MinIO
# starts too and is not used), builds benchmarks/selectbench and runs it: a fresh database
# with the catalog schema, SELECT_IMAGES images bulk-loaded with their metadata and some
# renditions, then CountSelection and PreviewSelection timed for typical selections. Fails
# when a median count takes a second or more. Not part of `make test`.
#
# Settings (environment):
#   SELECT_IMAGES=1000000   images to load (three image_meta rows each)
#   SELECT_RUNS=5           timed runs of each selection (after one untimed run)
#   SELECT_DATABASE_URL=    use this PostgreSQL server instead of starting one
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/pictor-select.XXXXXX")
started=""
cleanup() {
	if [[ -n $started ]]; then
		PICTOR_TESTENV_STATE="$work/testenv" bash "$root/scripts/testenv.sh" stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

url=${SELECT_DATABASE_URL:-}
if [[ -z $url ]]; then
	echo "== starting PostgreSQL" >&2
	started=1
	PICTOR_TESTENV_STATE="$work/testenv" bash "$root/scripts/testenv.sh" start
	url=$(grep '^PICTOR_TEST_DATABASE_URL=' "$work/testenv/env" | cut -d= -f2-)
fi
(cd "$root" && $GO build -o "$work/selectbench" ./benchmarks/selectbench)
"$work/selectbench" -db "$url" -images "${SELECT_IMAGES:-1000000}" -runs "${SELECT_RUNS:-5}"
