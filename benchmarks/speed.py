"""Speed of ttpose against an independent re-creation of the authors' computation (issue 8).

    nice -n 10 .venv/bin/python benchmarks/speed.py              # ResNet-18 and -50, 128 x 128, batch 32
    nice -n 10 .venv/bin/python benchmarks/speed.py --quick      # ResNet-18 only, 2 repeats
    .venv/bin/python benchmarks/speed.py --device cuda --compile # GPU: fp32, bf16/fp16 autocast, compile
    .venv/bin/python benchmarks/speed.py --compile               # + the fast options with torch.compile

For each backbone and case (joint training step, online TTP update, inference at batch 1 and 32) every
variant (the reference, ours with every speed option off, ours with the fast options, with ``--compile`` the
same compiled, for inference also ours with frozen compiled weights, and in the full run each option alone on
the TTP update) lives in its own
worker process, so that its peak memory
(``VmHWM``, or ``max_memory_allocated`` on CUDA) is its own. The parent asks the workers for one
step each in turn, the order rotated every round (ours, ours fast, ..., reference; then ours fast, ...,
reference, ours; ...), so that the load of other users of the machine falls on all of them alike and no
variant is always the first after a pause or right after the workers start; every figure is a median
over the repeats, and every ratio is reference time / our time. FLOPs are counted once per worker with
``torch.utils.flop_counter`` and set against a large matrix multiply on the same cores (fp32, and bf16 for
the bf16 variants).

Before timing, the reference and ours are loaded with the same weights (through ``ttpose.convert``) and
the same random VGG-16, and their outputs and losses are compared: the timed computations are the same
maths. No VGG-16 ImageNet weights are needed: random ones cost the same. Results go to the "speed" section of
benchmarks/SPEED.md (its other sections, the accuracy of the speed options, are written by
benchmarks/table1_synthetic.py and benchmarks/inference_accuracy.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import SPEED, cpu_model, memory_mib, write_section  # noqa: E402
from benchmarks.reference.official_model import (  # noqa: E402
    OfficialPerceptualLoss,
    OfficialTTP,
    official_freeze_for_ttp,
    official_train_step,
    official_ttp_step,
)
from ttpose.config import LossConfig, SpeedConfig, TTPConfig  # noqa: E402
from ttpose.convert import from_official  # noqa: E402
from ttpose.losses import ReconstructionLoss, VGG16Features  # noqa: E402
from ttpose.objective import joint_loss  # noqa: E402
from ttpose.personalization import Personalizer  # noqa: E402
from ttpose.schedules import CHEAPER_UPDATE  # noqa: E402
from ttpose.speed import autocast, describe, inference_model, prepare_batch, prepare_input, prepare_model  # noqa: E402

CASES = ("train", "ttp", "infer1", "infer32")
DEPTHS = {"resnet18": 18, "resnet50": 50}
SIZE, JOINTS, LAM = 128, 13, 1e-3


# ----------------------------------------------------------------------------------------------- models


def reference_model(depth: int, seed: int = 0) -> OfficialTTP:
    """The authors' model with non-trivial BN statistics (as after training), seeded."""
    torch.manual_seed(seed)
    model = OfficialTTP(depth)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in model.named_parameters():
            if "final_layer" in name or "sup_weight" in name:
                p.normal_(0, 0.05)
    return model


def vgg_state(seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return VGG16Features().state_dict()


def our_loss(vgg: dict[str, torch.Tensor]) -> ReconstructionLoss:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random VGG-16 on purpose (timing only)
        loss = ReconstructionLoss(LossConfig(perceptual="vgg16"))
    loss.vgg.load_state_dict(vgg)
    return loss


def make_batch(batch: int, seed: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target, source = torch.randn(batch, 3, SIZE, SIZE, generator=g), torch.randn(batch, 3, SIZE, SIZE, generator=g)
    heatmaps = torch.rand(batch, JOINTS, SIZE // 4, SIZE // 4, generator=g)
    return {"target": target, "source": source, "heatmaps": heatmaps, "target_weight": torch.ones(batch, JOINTS),
            "images": torch.stack([source, target], dim=1)}  # images: the reference's (source, target) layout


def check_same_maths(depth: int, batch: int = 2) -> dict[str, float]:
    """Relative differences between ours and the reference on the same weights, inputs and VGG-16."""
    ref = reference_model(depth).eval()
    ours = from_official(ref.state_dict()).eval()
    vgg = vgg_state()
    ref_loss, loss = OfficialPerceptualLoss(vgg), our_loss(vgg)
    b = make_batch(batch)

    def rel(a, c):
        return ((a - c).norm() / c.norm()).item()

    with torch.no_grad():
        pred_images, pose_unsup, pose_sup = ref(b["images"])
        out = ours(b["target"], b["source"])
        return {
            "reconstruction": rel(out.reconstruction, pred_images),
            "H_self": rel(out.self_heatmaps, pose_unsup),
            "H_sup": rel(out.sup_heatmaps, pose_sup),
            "L_self": rel(loss(out.reconstruction, b["target"]), ref_loss(pred_images, b["target"])),
        }


# ---------------------------------------------------------------------------------------------- workers


def build_step(spec: dict, device: torch.device):
    """A zero-argument function running one step of ``spec`` (variant, case, backbone, batch)."""
    depth, case, variant = DEPTHS[spec["backbone"]], spec["case"], spec["variant"]
    batch = 1 if case == "infer1" else spec["batch"]
    b = {k: v.to(device) for k, v in make_batch(batch).items()}
    vgg = vgg_state() if case in ("train", "ttp") else None  # inference needs no VGG-16 (nor its memory)
    if variant == "reference":
        ref = reference_model(depth).to(device)
        loss = OfficialPerceptualLoss(vgg).to(device) if vgg is not None else None
        images = b["target"]  # the target frames, for inference
        b = {"images": b["images"], "target": b["heatmaps"], "target_weight": b["target_weight"]}  # their names
        if case == "train":
            opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
            return lambda: official_train_step(ref, loss, opt, b, LAM)
        if case == "ttp":
            opt = torch.optim.Adam(official_freeze_for_ttp(ref), lr=1e-4)
            return lambda: official_ttp_step(ref, loss, opt, b)
        net = ref.pose_net.eval()
        return torch.no_grad()(lambda: net(images))
    speed = SpeedConfig(**spec["speed"])
    if case.startswith("infer"):  # the prediction-only copy (what `ttpose evaluate --ttp none` uses); only it stays
        net = inference_model(from_official(reference_model(depth).state_dict()).to(device), speed)
        images = prepare_input(b["target"], speed)

        @torch.no_grad()
        def infer():
            with autocast(speed, device):
                return net.predict(images)

        return infer
    model = from_official(reference_model(depth).state_dict()).to(device)
    loss = our_loss(vgg).to(device)
    if case == "train":  # the body of ttpose.training.train's loop
        model.train()
        prepare_model(model, speed)
        prepare_model(loss, speed)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train_step():
            opt.zero_grad(set_to_none=True)
            with autocast(speed, device):
                losses = joint_loss(model, prepare_batch(b, speed), loss, LAM)
            losses.total.backward()
            opt.step()

        return train_step
    tuner = Personalizer(model, TTPConfig(batch_size=batch, speed=speed, **spec.get("ttp", {})), loss)
    return lambda: tuner.update(b)


def worker(spec: dict) -> None:
    """Answer 'step' with the seconds of one step, 'quit' with the peak memory; the first step counts FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(spec["device"])
    step = build_step(spec, device)
    calls = spec.get("calls", 1)  # back-to-back calls per timed step (their median is reported)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    flops = float("nan")
    if not (spec["speed"].get("compile") or spec["speed"].get("compile_frozen")):
        counter = FlopCounterMode(display=False)
        try:
            with counter:  # warm-up + FLOPs
                step()
            flops = counter.get_total_flops()
        except AssertionError:  # torch's module tracker fails on our inference (nn.TransformerDecoder): no count
            pass
    sync()
    t0 = time.perf_counter()
    step()  # warm-up (and compilation, when asked)
    sync()
    first = time.perf_counter() - t0
    for _ in range(spec.get("warmup", 0)):
        step()
    sync()
    print(json.dumps({"flops": flops, "first_s": first}), flush=True)
    for line in sys.stdin:
        if line.strip() == "step":
            times = []
            for _ in range(calls):
                sync()
                t0 = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - t0)
            print(json.dumps({"seconds": statistics.median(times)}), flush=True)
        else:
            break
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = memory_mib("VmHWM")  # not ru_maxrss: it would include the parent's models (see memory_mib)
        if peak != peak:  # no /proc
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak}), flush=True)


class Worker:
    def __init__(self, spec: dict):
        self.spec = spec
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        first = self._read()
        self.flops, self.first_s = first["flops"], first["first_s"]
        self.seconds: list[float] = []

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmarks/speed.py: worker {self.spec} exited (code {self.proc.wait()})")
        return json.loads(line)

    def step(self) -> None:
        time.sleep(0.1)  # the previous worker's OpenMP threads stop spinning first (matters at batch 1)
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        self.seconds.append(self._read()["seconds"])

    def finish(self) -> float:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        peak = self._read()["peak_mib"]
        self.proc.wait()
        return peak


# ---------------------------------------------------------------------------------------------- parent


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of an n x n matrix product on this device (the attainable peak for dense maths)."""
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def matmul_peaks(args, device: torch.device) -> dict[str, float]:
    """{precision: `matmul_gflops`} for the precisions this run's variants use: fp32, and bf16 only with a bf16 or
    fp16 fast variant (on a CPU without bf16 units a bf16 product runs a reference kernel for many minutes)."""
    peaks = {"fp32": matmul_gflops(torch.float32, device)}
    if args.fast_precision != "fp32":
        peaks["bf16"] = matmul_gflops(torch.bfloat16, device)
    return peaks


def machine(device: torch.device) -> str:
    model = cpu_model()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    gpu = f"; GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (f"{model}, {os.cpu_count()} CPUs ({', '.join(bf16) or 'no bf16 units'}), {torch.get_num_threads()} torch "
            f"threads{gpu}; Python {platform.python_version()}, torch {torch.__version__}")


def variants(args) -> list[tuple[str, dict]]:
    fast = SpeedConfig(precision=args.fast_precision, channels_last=True, fold_bn=True,
                       separable_gaussians=not args.dense_gaussians)
    out = [("reference", {}), ("ours fp32", {}), ("ours fast", fast.__dict__)]
    if args.compile:  # the fast options + torch.compile, beside them (training and the TTP update: live weights)
        out.append(("ours fast+compile", {**replace(fast, compile=True).__dict__, "_only": ("train", "ttp")}))
    if fast.separable_gaussians:  # the fast options as they were before separable_gaussians, side by side
        out.append(("ours fast, dense Gaussians", {**replace(fast, separable_gaussians=False).__dict__,
                                                   "_only": "ttp"}))
    if args.cheap_update:  # the fast options with the cheaper update (not the same maths: RESULTS.md measures its PCK)
        out.append(("ours fast, cheaper update", {**fast.__dict__, "_only": "ttp", "_ttp": CHEAPER_UPDATE}))
        if args.cheaper_parts:  # each half alone: which one the speed comes from
            for key, value in CHEAPER_UPDATE.items():
                out.append((f"ours fast, {key}={str(value).lower()} alone",
                            {**fast.__dict__, "_only": "ttp", "_ttp": {key: value}}))
    if not args.no_frozen:  # prediction only: the fast options + the encoder compiled with frozen weights
        frozen = replace(fast, compile_frozen=True, separable_gaussians=False)  # no reconstruction
        out.append(("ours fast+frozen", {**frozen.__dict__, "_only": "infer"}))
        out.append(("ours fp32+frozen", {**SpeedConfig(compile_frozen=True).__dict__, "_only": "infer"}))
    if not args.quick:  # each option alone, on the TTP update
        for name, sp in (("fold_bn", SpeedConfig(fold_bn=True)), ("channels_last", SpeedConfig(channels_last=True)),
                         ("separable_gaussians", SpeedConfig(separable_gaussians=True)),
                         (args.fast_precision, SpeedConfig(precision=args.fast_precision))):
            out.append((f"ours {name} only", {**sp.__dict__, "_only": "ttp"}))
    return out


def run_case(args, backbone: str, case: str) -> list[dict]:
    workers = []
    for label, speed in variants(args):
        ttp = speed.pop("_ttp", {})  # TTP settings other than the speed options
        if not case.startswith(speed.pop("_only", case)):  # a prefix, or a tuple of them
            continue
        spec = {"variant": "reference" if label == "reference" else "ours", "speed": speed, "case": case,
                "backbone": backbone, "batch": args.batch, "device": args.device, "ttp": ttp,
                "warmup": 1 if speed.get("compile") else 0, "calls": 20 if case == "infer1" else 1}
        workers.append((label, {**speed, "_ttp": ttp}, Worker(spec)))
    repeats = {"infer1": max(args.repeats, 10), "infer32": max(args.repeats, 5)}.get(case, args.repeats)
    for r in range(repeats):  # interleaved: one step of each variant in turn, the order rotated every round so
        start = (r + 1) % len(workers)  # that no variant is always first (the reference never right after start-up)
        for _, _, w in workers[start:] + workers[:start]:
            w.step()
    rows = []
    for label, speed, w in workers:
        ttp = speed.pop("_ttp")
        options = describe(SpeedConfig(**speed)) + "".join(f"+{k}={str(v).lower()}" for k, v in ttp.items())
        rows.append({"backbone": backbone, "case": case, "variant": label, "speed": options,
                     "median_s": statistics.median(w.seconds), "seconds": w.seconds, "gflop": w.flops / 1e9,
                     "first_s": w.first_s,
                     "peak_mib": w.finish()})
    ref = rows[0]["median_s"]
    for row in rows:
        row["ratio"] = ref / row["median_s"]
        if row["gflop"] != row["gflop"] and case.startswith("infer"):  # nan: not countable on ours (see worker)
            row["gflop"], row["flops_from_reference"] = rows[0]["gflop"], True  # the same maths (checked first)
    return rows


def ceiling(rows: list[dict], peaks: dict[str, float], aim: float) -> str:
    """For each backbone and training or TTP case: the GFLOP/s our fast options would need, with the FLOPs they
    count, to be ``aim`` times the reference, against the measured matrix-multiply figure of their precision (near
    or above 100 % the same computation is unlikely to get there; not a hard bound: the fp32 reference can run
    above its figure). Empty without a fast row with a FLOP count."""
    lines = []
    for r in rows:
        if r["variant"] != "ours fast" or r["gflop"] != r["gflop"] or r["case"] not in ("train", "ttp"):
            continue
        ref = next(x for x in rows if x["backbone"] == r["backbone"] and x["case"] == r["case"]
                   and x["variant"] == "reference")
        need = r["gflop"] / (ref["median_s"] / aim)
        peak = peaks.get("bf16" if r["speed"].startswith(("bf16", "fp16")) else "fp32", float("nan"))  # as table()
        lines.append(f"- {r['backbone']} {r['case']}: {aim:g}x the reference ({ref['median_s'] / aim:.3f} s) would "
                     f"need the fast options' {r['gflop']:.1f} GFLOP at {need:.0f} GFLOP/s, {100 * need / peak:.0f} % "
                     f"of the matmul figure of their precision (they run at {r['gflop'] / r['median_s']:.0f})")
    return ("\nWhat a speed-up needs (issue 16, point 5):\n\n" + "\n".join(lines) + "\n") if lines else ""


def steps(seconds: list[float]) -> str:
    """Every timed step, or their range when there are many (the inference cases)."""
    if len(seconds) <= 5:
        return ", ".join(f"{s:.3f}" for s in seconds)
    return f"{min(seconds):.4f}-{max(seconds):.4f} (n={len(seconds)})"


def table(rows: list[dict], peaks: dict[str, float]) -> str:
    lines = ["| backbone | case | variant | options | median s | steps (s) | speed-up vs reference | GFLOP | "
             "GFLOP/s | % of matmul | peak MiB | first call s |", "|" + "---|" * 12]
    for r in rows:
        gflops = r["gflop"] / r["median_s"]
        peak = peaks.get("bf16" if r["speed"].startswith(("bf16", "fp16")) else "fp32", float("nan"))
        mark = "*" if r.get("flops_from_reference") else ""
        lines.append(f"| {r['backbone']} | {r['case']} | {r['variant']} | {r['speed']} | {r['median_s']:.4f} | "
                     f"{steps(r['seconds'])} | {r['ratio']:.2f}x | {r['gflop']:.1f}{mark} | "
                     f"{gflops:.1f} | {100 * gflops / peak:.0f}% | {r['peak_mib']:.0f} | {r['first_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="ResNet-18 only, 2 repeats, no per-option rows")
    parser.add_argument("--backbones", nargs="+", choices=sorted(DEPTHS), default=None)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per variant (default 3; quick 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--fast-precision", choices=("bf16", "fp16", "fp32"), default="bf16")
    parser.add_argument("--compile", action="store_true",
                        help="add the fast variant with torch.compile (training and TTP cases; its compilation "
                             "is the untimed warm-up, its time the column 'first call s')")
    parser.add_argument("--no-frozen", action="store_true", help="leave out the frozen-inference variants")
    parser.add_argument("--dense-gaussians", action="store_true",
                        help="the fast variant without separable_gaussians (the fast options before it existed)")
    parser.add_argument("--cheap-update", action="store_true",
                        help="add the fast options with the cheaper update on the TTP case (ttp.update_reconstruction"
                             "=false ttp.loss_pool=2: not the same maths)")
    parser.add_argument("--cheaper-parts", action="store_true",
                        help="with --cheap-update: also each of its two settings alone on the TTP case")
    parser.add_argument("--aim", type=float, default=4.0,
                        help="the speed-up whose GFLOP/s the section states (issue 16: 4 on avx512_bf16, 6 on AMX)")
    parser.add_argument("--out", type=Path, default=SPEED)
    parser.add_argument("--section", default="speed",
                        help="the results section to write (e.g. one per kind of CPU, keeping the others)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    if args.cheaper_parts and not args.cheap_update:
        parser.error("--cheaper-parts needs --cheap-update")
    args.backbones = args.backbones or (["resnet18"] if args.quick else ["resnet18", "resnet50"])
    args.repeats = args.repeats or (2 if args.quick else 3)
    device = torch.device(args.device)
    command = shlex.join(["python", "benchmarks/speed.py", *sys.argv[1:]])
    started, load0 = time.time(), os.getloadavg()
    peaks = matmul_peaks(args, device)
    print(f"matmul peaks GFLOP/s: {peaks}", flush=True)
    checks = {b: check_same_maths(DEPTHS[b]) for b in args.backbones}
    print(f"same maths (relative differences): {checks}", flush=True)
    rows = []
    for backbone in args.backbones:
        for case in args.cases:
            new = run_case(args, backbone, case)
            for r in new:
                print(f"{backbone} {case:8s} {r['variant']:22s} {r['median_s']:8.3f} s  x{r['ratio']:.2f}  "
                      f"{r['peak_mib']:.0f} MiB", flush=True)
            rows += new
    bf16_peak = f"{peaks['bf16']:.1f} GFLOP/s" if "bf16" in peaks else "was not timed (no bf16 variant)"
    check_lines = "\n".join(f"- {b}: " + ", ".join(f"{k} {v:.1e}" for k, v in c.items()) for b, c in checks.items())
    text = f"""Written by `benchmarks/speed.py` from one run; nothing edited by hand. See docs/speed.md for the options.

Command: `{command}`

Machine: {machine(device)}. Load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f} (the
machine is shared: absolute times vary with the load; the variants were run interleaved so that the ratios
compare like with like). Wall time of the run: {(time.time() - started) / 60:.1f} min.

Configuration: the authors' (128 x 128, batch {args.batch}, Transformer head, 13 joints, k_self 30, VGG-16
perceptual loss with random weights: the same computation as with ImageNet ones). Device: {args.device}.
{"No GPU was measured in this run." if device.type == "cpu" else ""}

Same maths first: ours loaded with the reference's weights through `ttpose.convert.from_official` (and the
same VGG-16), eval mode, batch 2; relative differences of the outputs and of L_self:

{check_lines}

Dense-maths ceiling on the same cores: a {2048} x {2048} matrix product reaches {peaks['fp32']:.1f} GFLOP/s
in float32 and {bf16_peak} in bfloat16 (best of 5). "% of matmul" sets each variant's
achieved GFLOP/s (its counted FLOPs / median time) against the peak of its own precision.

Cases: `train` = one joint-training step (Eq. 10, train mode, Adam over everything); `ttp` = one online
TTP update (Sec. 3.2, eval mode, L_self only, Adam over the personalized parameters; ours through
`Personalizer.update`); `infer1` / `infer32` = the pose path at batch 1 / {args.batch} (no gradients).
Variants: `reference` = benchmarks/reference/official_model.py; `ours fp32` = every speed option off;
`ours fast` = the options named. Our inference runs on `ttpose.speed.inference_model(model, options)`, the
prediction-only copy that `ttpose evaluate --ttp none` and the generic pass of `ttpose personalize` use
(BN folded once when `fold_bn`); `+frozen` adds the encoder compiled with frozen weights (`compile_frozen`;
compilation is done before timing: its one-off cost is the column "first call s", the untimed warm-up call).
Peak memory: the worker
process's maximum resident set (CPU) or `max_memory_allocated` (CUDA), including the Python process and the
models. The inference cases time 10 steps of 20 back-to-back calls at batch 1 (a step's figure is its median
call: the steady per-frame latency of a process that does nothing else, robust to the first call after
another worker ran and to bursts of load on this shared machine) or 5 single calls at batch {args.batch}.
GFLOP marked * are the reference's count for the same computation (torch's FLOP counter fails on our
Transformer module under inference; the outputs were checked equal above; folding BN removes well under 1 %
of them). The peak
memory of our inference rows includes, for a moment, both the model converted from the reference's weights
and its prediction-only copy.

{table(rows, peaks)}
{ceiling(rows, peaks, args.aim)}"""
    write_section(args.section, text, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
