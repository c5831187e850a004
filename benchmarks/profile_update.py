"""Where the time of the fast paper-size update goes, and how fast it could be if only its convolutions took time.

    python benchmarks/profile_update.py --section profile_update     # ResNet-18 and -50, TTP update and training step

Issue 16 point 5 asks for the TTP update at 4x (CPUs with avx512_bf16 and no AMX) and 6x (AMX) the authors'
computation. This script answers whether the same computation can get there on the machine it runs on. For each
backbone and case (``ttp``: one online TTP update; ``train``: one joint-training step; batch 32, 128 x 128, the
VGG-16 perceptual loss) it builds the authors' computation (`benchmarks.speed.build_step`, variant
``reference``) and ours with the fast options (`ttpose.speed.fast_speed`: bf16 where the CPU has bf16 units,
channels-last, folded BN, separable Gaussians), times them in this process, alternating (``--repeats`` rounds
after one warm-up step each; medians), then profiles one of our steps with ``torch.profiler`` (self CPU time per
operator). The convolutions' share (`is_convolution`: forward and backward) sets
a ceiling: were every other operator free, our step would take (our time x that share), so the speed-up could not
exceed reference / (ours x share) without fewer convolution FLOPs (a cheaper computation: smaller batches, a
cheaper loss, fewer updates). Writes a section of benchmarks/SPEED.md (``--section``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SPEED, command, interleaved_seconds, write_section  # noqa: E402
from benchmarks.speed import build_step, machine  # noqa: E402
from ttpose.config import SpeedConfig  # noqa: E402
from ttpose.speed import describe, fast_speed  # noqa: E402


def is_convolution(operator: str) -> bool:
    """An operator doing convolution arithmetic (oneDNN's ``aten::mkldnn_convolution``, ``aten::convolution_backward``,
    the slow paths ``aten::_slow_conv2d_*``; their wrappers' self time is small and counted with them)."""
    return operator.startswith("aten::") and "conv" in operator


def operator_seconds(step) -> dict[str, float]:
    """Self CPU seconds per operator in one call of ``step``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}


def measure(backbone: str, case: str, fast: SpeedConfig, repeats: int) -> dict:
    spec = {"backbone": backbone, "case": case, "batch": 32}
    steps = {"reference": build_step({**spec, "variant": "reference", "speed": {}}, torch.device("cpu")),
             "ours fast": build_step({**spec, "variant": "ours fast", "speed": fast.__dict__}, torch.device("cpu"))}
    seconds = interleaved_seconds(steps, repeats)  # one untimed warm-up round, then the order rotated
    ops = operator_seconds(steps["ours fast"])
    del steps
    gc.collect()
    total = sum(ops.values())
    share = sum(s for name, s in ops.items() if is_convolution(name)) / total
    ref, ours = statistics.median(seconds["reference"]), statistics.median(seconds["ours fast"])
    return {"backbone": backbone, "case": case, "reference": ref, "ours": ours, "seconds": seconds, "share": share,
            "ceiling": ref / (ours * share) if share > 0 else float("inf"), "ops": ops, "total": total}


def report(rows: list[dict], fast: SpeedConfig, args, started: float, top: int = 8) -> str:
    lines = [
        "Written by `benchmarks/profile_update.py` from one run; nothing edited by hand.", "",
        f"Command: `{command()}`  ", f"Machine: {machine(torch.device('cpu'))}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; took {time.time() - started:.0f} s; nothing else of ours ran.", "",
        f"The authors' computation (`reference`) and ours with the fast options ({describe(fast)}), batch 32, "
        f"128 x 128, VGG-16 perceptual loss; {args.repeats} rounds alternating in one process (median s); then one "
        "of our steps profiled (self CPU time per operator). Convolution share: forward and backward convolutions "
        "over all operators. Ceiling: the speed-up were every other operator free, reference / (ours x share).", "",
        "| backbone | case | reference s | ours fast s | speed-up | convolution share | ceiling |",
        "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backbone']} | {r['case']} | {r['reference']:.3f} | {r['ours']:.3f} | "
                     f"{r['reference'] / r['ours']:.2f}x | {100 * r['share']:.0f}% | {r['ceiling']:.2f}x |")
    for r in rows:
        ranked = sorted(r["ops"].items(), key=lambda kv: -kv[1])[:top]
        lines += ["", f"{r['backbone']} {r['case']}, our step's {top} costliest operators (of {r['total']:.3f} s "
                      "profiled):", "", "| operator | self s | share |", "|---|---:|---:|"]
        lines += [f"| `{name}` | {s:.3f} | {100 * s / r['total']:.1f}% |" for name, s in ranked]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"], choices=["resnet18", "resnet50"])
    parser.add_argument("--cases", nargs="+", default=["ttp", "train"], choices=["ttp", "train"])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (reference and ours alternating)")
    parser.add_argument("--section", default="profile_update", help="the results section to write")
    args = parser.parse_args()
    started = time.time()
    fast = fast_speed("cpu")
    rows = []
    for backbone in args.backbones:
        for case in args.cases:
            rows.append(measure(backbone, case, fast, args.repeats))
            r = rows[-1]
            print(f"{backbone} {case}: reference {r['reference']:.3f} s, ours {r['ours']:.3f} s, convolutions "
                  f"{100 * r['share']:.0f}%, ceiling {r['ceiling']:.2f}x", flush=True)
    text = report(rows, fast, args, started)
    write_section(args.section, text, SPEED)
    print(text)


if __name__ == "__main__":
    main()
