"""Training loss curves of the four methods on the synthetic CPU config, from the runs' log.csv files.

    python benchmarks/plot_training_curves.py            # after benchmarks/table1_synthetic.py
    -> docs/images/training_curves.png (L_sup and L_self per step; mean over seeds, shaded min..max)

Reads runs/table1/<method>-seed<k>/log.csv as written by `ttpose.train` (columns step, lr, loss, loss_sup,
loss_self, val_pck, seconds). Nothing is computed here that the logs do not hold.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import TITLES  # noqa: E402


def read_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a training log.csv as float arrays (empty cells are nan)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: empty training log")
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows]) for k in rows[0]}


def curves(runs: Path, method: str, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, seeds x steps values) of ``column`` for every seed of ``method`` (common steps only)."""
    logs = [read_log(p) for p in sorted(runs.glob(f"{method}-seed*/log.csv"))]
    logs = [log for log in logs if column in log and np.isfinite(log[column]).any()]
    if not logs:
        return None
    steps = logs[0]["step"]
    for log in logs[1:]:
        steps = np.intersect1d(steps, log["step"])
    values = np.stack([log[column][np.searchsorted(log["step"], steps)] for log in logs])
    return steps, values


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/table1"))
    default_out = Path(__file__).resolve().parents[1] / "docs/images/training_curves.png"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), dpi=110)
    FigureCanvasAgg(fig)
    panels = [("loss_sup", "L_sup (heatmap MSE)"), ("loss_self", "L_self (pixel L2 / running mean; rotation: CE)")]
    drawn = 0
    for i, (column, title) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        for method, name in TITLES.items():
            found = curves(args.runs, method, column)
            if found is None:
                continue
            steps, values = found
            ax.plot(steps, values.mean(0), label=f"{name} ({len(values)} seeds)")
            ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2)
            drawn += 1
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    if not drawn:
        raise SystemExit(f"no training logs under {args.runs}: run benchmarks/table1_synthetic.py first")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
