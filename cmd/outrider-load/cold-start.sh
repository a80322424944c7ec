#!/usr/bin/env bash
# cold-start.sh [repo] — the first-start measurement of BENCHMARKS.md:
# a fresh clone of repo (default: this checkout's), `make run` with empty Go
# module and build caches of its own, and the seconds until /readyz answers
# 200. The node is stopped afterwards; the clone and its caches stay in the
# directory it prints, for you to remove. Remove them between runs with a
# pause: deleting a gigabyte of cache on a disk mounted with `discard`
# slows the next run's downloads and writes for a while (the module cache
# is read-only: chmod -R u+w DIR && rm -rf DIR).
set -euo pipefail
repo=${1:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}
addr=${OUTRIDER_HTTP_ADDR:-127.0.0.1:18080}
dir=$(mktemp -d /tmp/outrider-cold.XXXXXX)
git clone -q "$repo" "$dir/src"
cd "$dir/src"
export GOCACHE=$dir/build GOMODCACHE=$dir/mod

start=$(date +%s.%N)
OUTRIDER_HTTP_ADDR=$addr setsid make run >"$dir/make-run.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true' EXIT
until curl -sf "http://$addr/readyz" >/dev/null 2>&1; do
	if ! kill -0 $pid 2>/dev/null; then
		echo "make run exited before /readyz answered; see $dir/make-run.log" >&2
		exit 1
	fi
	sleep 0.2
done
end=$(date +%s.%N)
echo "fresh clone to /readyz 200: $(echo "$end - $start" | bc) s (clone and caches in $dir)"
