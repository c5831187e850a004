#!/bin/bash
# Three fresh-clone `make demo` runs (issue 13), one after another: each clones this repository into a new
# temporary folder with shared/ beside it, builds its own virtual environment (make demo does) and runs the
# demo; prints each run's folder, commit, seconds (venv build included) and the three PCK lines.
#     bash benchmarks/demo_repeats.sh | tee benchmarks/DEMO_REPEATS.log
for i in 1 2 3; do
  d=$(mktemp -d) && git clone -q "$(git rev-parse --show-toplevel)" "$d/p" && ln -s "$(realpath "$(git rev-parse --show-toplevel)/../shared")" "$d/shared"
  start=$(date +%s)
  (cd "$d/p" && OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} make demo > "$d/demo.log" 2>&1; echo "rc $?" >> "$d/demo.log")
  end=$(date +%s)
  echo "=== run $i: $d, $(git -C $d/p rev-parse --short HEAD), $((end - start)) s (venv build included)"
  grep -E "PCK@0.2|rc " "$d/demo.log"
done
