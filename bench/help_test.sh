#!/usr/bin/env bash
# bench/run --help answers at once, before it installs or builds anything: run from a directory
# holding nothing but the script, where an install or a build would fail. It lists every option
# of the sweep driver, so that the two cannot drift apart.
#   bench/help_test.sh <bench/run> <pp_bench>
set -euo pipefail
run_script=$1 pp_bench=$2
alone=$(mktemp -d)
trap 'rm -rf "$alone"' EXIT
mkdir "$alone/bench"
cp "$run_script" "$alone/bench/run"
help=$(timeout 10 bash "$alone/bench/run" --help)
[[ -z "$(ls -A "$alone" | grep -v '^bench$')" ]] || { echo "bench/run --help made files" >&2; exit 1; }
missing=0
for option in $("$pp_bench" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  if ! grep -q -- "$option" <<<"$help"; then
    echo "bench/run --help does not list $option (pp_bench has it)" >&2
    missing=1
  fi
done
exit $missing
