#!/usr/bin/env bash
# Runs the benchmarks of issue 3 one after the other; each one's output goes to the
# terminal and to bench/out/<name>.txt (git-ignored), the machine's description to
# bench/out/machine.txt. Exits non-zero if any benchmark had a harness failure.
#
#   bench/run_all.sh                  # the working tree, with /tmp/v/bin/python
#   bench/run_all.sh --snapshot       # the committed HEAD, extracted to a temporary folder
#   bench/run_all.sh --snapshot REV   # that commit instead of HEAD
#   bench/run_all.sh --snapshot worktree   # a copy of the working tree as it is now
#   BENCHES="burst_200_writes idle_50_sites" bench/run_all.sh   # only these
#   OUT=bench/out/mine bench/run_all.sh                         # another output folder
#   PYTHON=.venv/bin/python bench/run_all.sh
#
# --snapshot measures `git archive REV` (plus this bench/ folder) from a folder under
# /tmp, so edits to hostd/ made while the benchmarks run cannot change what they
# measure: the benchmarks run from that folder, and `python -m hostd` finds its hostd
# first on sys.path (before an editable install of the working tree).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-/tmp/v/bin/python}"
out="${OUT:-$here/out}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"

src="$repo"
what="working tree $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
if ! git -C "$repo" diff --quiet HEAD -- hostd templates 2>/dev/null; then
    what="$what, with uncommitted changes to hostd/ or templates/"
fi
if [ "${1:-}" = "--snapshot" ]; then
    rev="${2:-HEAD}"
    src="$(mktemp -d /tmp/hostd-bench-src.XXXXXX)"
    trap 'rm -rf "$src"' EXIT
    if [ "$rev" = worktree ]; then
        # tracked and untracked files, not the ignored ones
        (cd "$repo" && git ls-files -z -c -o --exclude-standard | xargs -0 cp --parents -t "$src" 2>/dev/null)
        what="snapshot of the working tree on $(git -C "$repo" rev-parse --short HEAD) at $(date -u +%H:%M:%S) in $src"
    else
        git -C "$repo" archive "$rev" | tar -x -C "$src" || exit 3
        what="snapshot of $rev ($(git -C "$repo" rev-parse --short "$rev")) in $src"
    fi
    mkdir -p "$src/bench"
    cp "$here"/*.py "$src/bench/"
fi
cd "$src"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -r)"
    free -h
    echo "python: $("$python" -c 'import sys; print(sys.version.split()[0])')"
    echo "nginx: $( (nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1) | sed 's/^nginx version: //')"
    echo "gunicorn: $("$(dirname "$python")/gunicorn" --version)"
    echo "supervisord: $("$(dirname "$python")/supervisord" --version)"
    echo "hostd: $what"
    echo "hostd imported from: $("$python" -c 'import hostd, os; print(os.path.dirname(hostd.__file__))')"
} | tee "$out/machine.txt"

status=0
for bench in ${BENCHES:-p1_file_to_first_200 env_change_among_50 burst_200_writes idle_50_sites}; do
    echo "== $bench"
    timeout 1800 "$python" "bench/$bench.py" 2>&1 | tee "$out/$bench.txt"
    code=${PIPESTATUS[0]}
    if [ "$code" -ne 0 ]; then
        echo "== $bench exited $code" | tee -a "$out/$bench.txt"
        status=1
    fi
done
exit "$status"
