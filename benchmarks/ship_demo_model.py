"""Make the model that `ttpose demo` ships: train it with the demo's recipe and record how it was made.

Trains the DEMO config of ttpose/demo.py (seed 0; the same training as `ttpose demo --train`) in a work folder
(reusing a finished run there), stores its weights in float16 in src/ttpose/demo_model/model.safetensors (the
float32 file is 14 MB; float16 halves it under the 10 MB a repository file may take; the model computes in
float32 after loading), then runs `ttpose demo` on that very file and writes, beside it, the run's config, its
training log, the SHA-256 of the weights and a README with the command, the machine, the times and what the
demo printed. tests/test_demo.py checks that the shipped file matches its recorded hash and recipe.

The shipped file carries the demo's TTP settings (`demo_ttp`), so that `ttpose personalize --checkpoint` and
`ttpose evaluate` with it personalize as the demo does, not with the TTP settings of the run that trained it.

    python benchmarks/ship_demo_model.py
    python benchmarks/ship_demo_model.py --work runs/long3000/transformer-seed0   # reuse the Table 1 run of
                                                                                  # the same recipe and seed
    python benchmarks/ship_demo_model.py --retag   # the committed weights kept, their TTP settings the demo's
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from ttpose.atomic import atomic_path, atomic_write_text  # noqa: E402
from ttpose.checkpoint import read_header  # noqa: E402
from ttpose.config import Config, config_from_dict, dump_yaml, to_dict  # noqa: E402
from ttpose.demo import SHIPPED_MODEL, SHIPPED_SHA256, _finished, demo_config, run_demo  # noqa: E402
from ttpose.training import train  # noqa: E402
from ttpose.weights import file_sha256  # noqa: E402


def demo_ttp(cfg: Config) -> dict:
    """The TTP settings the shipped file carries: the demo's (``cfg.ttp``), with bf16 left to the machine that runs
    it (``precision: auto``) instead of the one that shipped it."""
    ttp = to_dict(cfg.ttp)
    ttp["speed"]["precision"] = "auto"
    return ttp


def half_copy(source: Path, dest: Path, ttp: dict) -> None:
    """``source`` checkpoint with its model's floating-point tensors stored as float16 (the loss's running means,
    a few numbers, and integer buffers kept as they are), the same metadata but for its config's TTP settings,
    which become ``ttp``."""
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(metadata["config"])
    config["ttp"] = ttp
    metadata["config"] = json.dumps(to_dict(config_from_dict(config)))  # validated, in the checkpoint's own layout
    tensors = {k: v.half() if v.is_floating_point() and not k.startswith("loss.") else v for k, v in tensors.items()}
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def same_checkpoint(a: Path, b: Path) -> bool:
    """Whether two safetensors files hold the same tensors (names, dtypes, values) and metadata. Their bytes can
    still differ (the header's layout depends on the safetensors version), so rewriting an unchanged model
    would add a new 7 MB blob to the repository for nothing."""
    with safe_open(str(a), framework="pt") as fa, safe_open(str(b), framework="pt") as fb:
        if fa.metadata() != fb.metadata() or set(fa.keys()) != set(fb.keys()):
            return False
        for k in fa.keys():
            x, y = fa.get_tensor(k), fb.get_tensor(k)
            if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
                return False
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/demo-train"), help="training folder")
    parser.add_argument("--retag", action="store_true",
                        help="keep the committed weights (no training), give them the demo's current TTP settings")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    cfg = demo_config(args.work)
    dest = SHIPPED_MODEL.parent
    started = time.time()
    if args.retag:  # the training run is the one the README being replaced recorded
        before = (dest / "README.md").read_text()
        made = re.search(r"trained by `([^`]*)`", before) or re.search(r"- Command: `([^`]*)`", before)
        minutes = re.search(r"recorded training time: ([0-9.]+) min", before)
        trained_by = f"; trained by `{made.group(1)}`" if made else ""
        trained = (f"Training: none in this call (the committed weights kept, their TTP settings set to the demo's"
                   f"{trained_by}" + (f", its recorded training time: {minutes.group(1)} min, on the machine that "
                                   "trained it)" if minutes else ")"))
        source, fresh = SHIPPED_MODEL, SHIPPED_MODEL.with_name("model.retag.safetensors")
    else:
        if _finished(cfg) is None:
            train(cfg, resume=True, progress=not args.quiet)
        recorded = args.work / "train_seconds.txt"  # written by benchmarks.common.trained for a benchmark's run
        earlier = (f"; the run's recorded training time: {float(recorded.read_text()) / 60:.1f} min"
                   if recorded.is_file() else "")
        trained = (f"Training: {(time.time() - started) / 60:.1f} min in this call (0 when the finished run in the "
                   f"work folder `{args.work}` was reused{earlier})")
        source, fresh = args.work / "model.safetensors", args.work / "model.half.safetensors"
    dest.mkdir(parents=True, exist_ok=True)
    half_copy(source, fresh, demo_ttp(cfg))
    if SHIPPED_MODEL.is_file() and same_checkpoint(fresh, SHIPPED_MODEL):
        fresh.unlink()  # same tensors and metadata: keep the committed file (its bytes, hence its hash)
        print(f"{SHIPPED_MODEL} already holds these weights: kept")
    else:
        fresh.replace(SHIPPED_MODEL)
    digest = file_sha256(SHIPPED_MODEL)
    atomic_write_text(SHIPPED_SHA256, f"{digest}  model.safetensors\n")
    # the config the file carries: the run's (its training part checked against the demo's by _finished), with the
    # demo's current TTP settings, which the run may predate
    atomic_write_text(dest / "config.yaml", dump_yaml(read_header(SHIPPED_MODEL)[0]))
    if not args.retag:
        shutil.copyfile(args.work / "log.csv", dest / "log.csv")
    started = time.time()
    lines: list[str] = []
    result = run_demo(args.work / "demo", progress=not args.quiet, log=lambda line: (print(line), lines.append(line)))
    demo_minutes = (time.time() - started) / 60
    size = SHIPPED_MODEL.stat().st_size / 2**20
    readme = [
        "# The model `ttpose demo` starts from", "",
        "Written by `benchmarks/ship_demo_model.py` from the run below; nothing edited by hand.", "",
        f"- Command: `{command()}`: " + ("gives the committed weights the demo's current TTP settings"
                                        if args.retag else
                                        "trains the `DEMO` recipe of `src/ttpose/demo.py` (seed 0, the training of "
                                        "`ttpose demo --train`) on the synthetic training people, stores the "
                                        "weights in float16") + ", then runs `ttpose demo` on this very file",
        f"- Files: `model.safetensors` ({size:.1f} MiB, float16 weights; SHA-256 in `model.sha256`: `{digest}`), "
        "`config.yaml` (the run's full config, with the demo's TTP settings, which the file carries too: "
        "`ttpose personalize` and `ttpose evaluate` with it use the demo's TTP settings), `log.csv` (its training "
        "log)",
        f"- Machine: {machine()}",
        f"- {trained}; the demo on the shipped file: {demo_minutes:.1f} min; "
        f"{result.parameters / 1e6:.2f} M parameters",
        "", "What `ttpose demo` printed on the shipped file:", "", "```", *lines, "```", "",
        "`ttpose demo` checks the hash before it uses the file; `ttpose demo --train` retrains the model from "
        "scratch in float32 (its numbers differ from these in the last digits).",
    ]
    atomic_write_text(dest / "README.md", "\n".join(readme) + "\n")
    print(f"shipped {SHIPPED_MODEL} ({size:.1f} MiB, sha256 {digest[:12]}...)")


if __name__ == "__main__":
    main()
