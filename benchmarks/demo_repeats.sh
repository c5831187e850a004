#!/bin/bash
# Three fresh-clone `make demo` runs (issue 13), one after another: each clones this repository into a new
# temporary folder with shared/ beside it, builds its own virtual environment (make demo does) and runs the
# demo as a user would (torch's default threads unless OMP_NUM_THREADS is set); prints a header (date,
# machine, threads, what else ran), then each run's folder, commit, seconds (venv build included) and the
# three PCK lines. The same text becomes a new section of benchmarks/DEMO_REPEATS.log, named by the date and
# the commit (`python -m benchmarks.common`: the one writer of results files; PYTHON: the interpreter for
# it, default the repository's .venv).
#     bash benchmarks/demo_repeats.sh
root=$(git rev-parse --show-toplevel)
python=${PYTHON:-$root/.venv/bin/python}
stamp=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$root" rev-parse --short HEAD)
repeats() {
  echo "# bash benchmarks/demo_repeats.sh, $stamp, commit $commit"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset (torch default)}"
  echo "# matrix units: $(grep -m1 -o -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo | sort -u | xargs || true)$(grep -q -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo || echo 'no bf16 units (the demo personalizes in float32)')"
  echo "# other python processes at the start: $(pgrep -c -f 'python' || true)"
  for i in 1 2 3; do
    d=$(mktemp -d) && git clone -q "$root" "$d/p" && ln -s "$(realpath "$root/../shared")" "$d/shared"
    start=$(date +%s)
    (cd "$d/p" && make demo > "$d/demo.log" 2>&1; echo "rc $?" >> "$d/demo.log")
    end=$(date +%s)
    echo "=== run $i: $d, $(git -C "$d/p" rev-parse --short HEAD), $((end - start)) s (venv build included)"
    grep -E "PCK@0.2|rc " "$d/demo.log"
  done
}
log=$(mktemp)
repeats | tee "$log"
(cd "$root" && "$python" -m benchmarks.common benchmarks/DEMO_REPEATS.log "demo_repeats $stamp $commit" < "$log")
rm -f "$log"
