"""benchmarks/speed.py's timing order: the variants interleave and no variant is always first (issue 16);
benchmarks/profile_update.py's convolution share and ceiling."""

import argparse
import time

import pytest
import torch

import benchmarks.profile_update as profile_update
import benchmarks.speed as speed
from ttpose.config import SpeedConfig


def fake_workers(monkeypatch) -> tuple[list[dict], list[str]]:
    """speed.Worker replaced by one that times nothing (1 s a step); returns the specs the workers were made with
    and the order of their steps (by label: "reference" or "ours <speed options>")."""
    specs, order = [], []

    class FakeWorker:
        def __init__(self, spec):
            specs.append(spec)
            self.label = "reference" if spec["variant"] == "reference" else f"ours {spec['speed']}"
            self.flops, self.first_s, self.seconds = 1e9, 0.0, []

        def step(self):
            order.append(self.label)
            self.seconds.append(1.0)

        def finish(self):
            return 0.0

    monkeypatch.setattr(speed, "Worker", FakeWorker)
    return specs, order


def test_interleaved_order_rotates_and_the_reference_is_not_first(monkeypatch):
    _, order = fake_workers(monkeypatch)
    args = argparse.Namespace(fast_precision="bf16", compile=False, no_frozen=True, quick=True, batch=2,
                              device="cpu", repeats=3, dense_gaussians=False, cheap_update=True,
                              cheaper_parts=False)
    rows = speed.run_case(args, "resnet18", "train")
    n = len(rows)
    assert n == 3 and len(order) == 3 * n
    rounds = [order[i * n:(i + 1) * n] for i in range(3)]
    assert all(sorted(r) == sorted(rounds[0]) for r in rounds)  # every variant once per round
    assert rounds[0][0] != "reference"  # not first right after the workers start
    assert len({r[0] for r in rounds}) == 3  # a different variant leads each round
    assert rows[0]["variant"] == "reference" and rows[0]["ratio"] == 1.0


def test_fast_variant_has_separable_gaussians_and_a_dense_row_beside_it_on_the_update():
    args = argparse.Namespace(fast_precision="fp32", compile=False, no_frozen=False, quick=True,
                              dense_gaussians=False, cheap_update=False)
    names = dict(speed.variants(args))
    assert names["ours fast"]["separable_gaussians"] is True
    assert names["ours fast, dense Gaussians"] == {**names["ours fast"], "separable_gaussians": False, "_only": "ttp"}
    assert names["ours fast+frozen"]["separable_gaussians"] is False  # prediction has no reconstruction path
    args.dense_gaussians = True
    names = dict(speed.variants(args))
    assert names["ours fast"]["separable_gaussians"] is False and "ours fast, dense Gaussians" not in names


def test_compile_adds_a_compiled_fast_variant_beside_the_eager_one_on_training_and_the_update():
    args = argparse.Namespace(fast_precision="fp32", compile=True, no_frozen=True, quick=True, dense_gaussians=False,
                              cheap_update=False)
    names = dict(speed.variants(args))
    assert names["ours fast"]["compile"] is False
    assert names["ours fast+compile"] == {**names["ours fast"], "compile": True, "_only": ("train", "ttp")}
    cases = {case for case in speed.CASES if case.startswith(names["ours fast+compile"]["_only"])}
    assert cases == {"train", "ttp"}
    args.compile = False
    assert "ours fast+compile" not in dict(speed.variants(args))


def test_the_cheaper_update_row_times_the_update_with_its_ttp_settings(monkeypatch):
    specs, _ = fake_workers(monkeypatch)
    args = argparse.Namespace(fast_precision="bf16", compile=False, no_frozen=True, quick=True, batch=2,
                              device="cpu", repeats=1, dense_gaussians=False, cheap_update=True,
                              cheaper_parts=False)
    rows = {r["variant"]: r for r in speed.run_case(args, "resnet18", "ttp")}
    cheap = next(s for s in specs if s["ttp"])
    assert cheap["ttp"] == {"update_reconstruction": False, "loss_pool": 2} and cheap["case"] == "ttp"
    assert all(s["ttp"] == {} for s in specs if s is not cheap)  # every other row: the paper's update
    assert rows["ours fast, cheaper update"]["speed"].endswith("+update_reconstruction=false+loss_pool=2")
    assert rows["ours fast"]["speed"] == rows["ours fast, cheaper update"]["speed"].split("+update_")[0]
    specs.clear()
    assert "ours fast, cheaper update" not in {r["variant"] for r in speed.run_case(args, "resnet18", "train")}


def test_cheaper_parts_time_each_setting_of_the_cheaper_update_alone(monkeypatch):
    specs, _ = fake_workers(monkeypatch)
    args = argparse.Namespace(fast_precision="bf16", compile=False, no_frozen=True, quick=True, batch=2,
                              device="cpu", repeats=1, dense_gaussians=False, cheap_update=True, cheaper_parts=True)
    rows = {r["variant"]: r for r in speed.run_case(args, "resnet18", "ttp")}
    assert sorted(map(str, (s["ttp"] for s in specs if s["ttp"]))) == sorted(map(str, (
        {"update_reconstruction": False, "loss_pool": 2}, {"update_reconstruction": False}, {"loss_pool": 2})))
    assert rows["ours fast, loss_pool=2 alone"]["speed"] == rows["ours fast"]["speed"] + "+loss_pool=2"
    assert rows["ours fast, update_reconstruction=false alone"]["speed"] == \
        rows["ours fast"]["speed"] + "+update_reconstruction=false"


def test_the_ceiling_says_what_gflops_an_aim_needs_against_the_peak():
    rows = [{"backbone": "resnet50", "case": "ttp", "variant": "reference", "speed": "fp32", "median_s": 8.0,
             "gflop": 2000.0},
            {"backbone": "resnet50", "case": "ttp", "variant": "ours fast", "speed": "bf16+channels_last",
             "median_s": 3.0, "gflop": 1800.0}]
    text = speed.ceiling(rows, {"fp32": 200.0, "bf16": 800.0}, 4.0)
    # 4x: 2.000 s for 1800 GFLOP = 900 GFLOP/s, 112 % of the bf16 peak; they run at 600
    assert "resnet50 ttp: 4x the reference (2.000 s) would need the fast options' 1800.0 GFLOP at 900 GFLOP/s, " \
           "112 % of the matmul figure of their precision (they run at 600)" in text
    assert speed.ceiling(rows[:1], {"fp32": 1.0}, 4.0) == ""
    fp16 = [rows[0], {**rows[1], "speed": "fp16+channels_last"}]  # a GPU run: its peak is timed as bf16's
    assert "112 % of the matmul figure" in speed.ceiling(fp16, {"fp32": 200.0, "bf16": 800.0}, 4.0)
    infer = [{**r, "case": "infer32"} for r in rows]  # inference: GFLOP may be the reference's count, left out
    assert speed.ceiling(infer, {"fp32": 200.0, "bf16": 800.0}, 4.0) == ""
    other = [rows[0], {**rows[1], "variant": "ours fast, cheaper update"}]  # only the fast options' row
    assert speed.ceiling(other, {"fp32": 200.0, "bf16": 800.0}, 4.0) == ""


def test_the_bf16_peak_is_timed_only_for_a_bf16_or_fp16_run(monkeypatch):
    """On a CPU without bf16 units a 2048 x 2048 bf16 product took minutes (an fp32 run hung there first)."""
    timed = []
    monkeypatch.setattr(speed, "matmul_gflops", lambda dtype, device: timed.append(dtype) or 1.0)
    cpu = torch.device("cpu")
    assert speed.matmul_peaks(argparse.Namespace(fast_precision="fp32"), cpu) == {"fp32": 1.0}
    assert timed == [torch.float32]
    assert speed.matmul_peaks(argparse.Namespace(fast_precision="bf16"), cpu) == {"fp32": 1.0, "bf16": 1.0}
    row = {"backbone": "resnet18", "case": "ttp", "variant": "ours fast", "speed": "bf16+channels_last",
           "median_s": 2.0, "seconds": [2.0], "ratio": 1.0, "gflop": 4.0, "peak_mib": 1.0, "first_s": 1.0}
    assert "| 2.0 | nan% |" in speed.table([row], {"fp32": 1.0})  # a bf16 row without its peak: no KeyError


def test_the_profiles_ceiling_sets_the_reference_against_our_convolutions_alone(monkeypatch):
    conv, x = torch.nn.Conv2d(3, 8, 3), torch.randn(2, 3, 24, 24)

    def fake_step(spec, device):  # ours: the same convolution plus other work that the ceiling leaves out
        if spec["variant"] == "reference":
            return lambda: conv(x).sum().backward()
        return lambda: (conv(x).sum().backward(), torch.randn(300, 300).exp().sum())

    monkeypatch.setattr(profile_update, "build_step", fake_step)
    r = profile_update.measure("resnet18", "ttp", SpeedConfig(), repeats=2)
    assert len(r["seconds"]["reference"]) == len(r["seconds"]["ours fast"]) == 2
    assert any(profile_update.is_convolution(op) for op in r["ops"]) and "aten::exp" in r["ops"]
    assert 0 < r["share"] < 1
    assert r["ceiling"] == pytest.approx(r["reference"] / (r["ours"] * r["share"]))
    assert r["ceiling"] > r["reference"] / r["ours"]  # the other operators' time is what the ceiling removes
    text = profile_update.report([r], SpeedConfig(), argparse.Namespace(repeats=2), time.time())
    assert "| resnet18 | ttp |" in text and "`aten::exp`" in text


def test_only_convolution_operators_count_as_convolutions():
    assert profile_update.is_convolution("aten::mkldnn_convolution")
    assert profile_update.is_convolution("aten::convolution_backward")
    assert not profile_update.is_convolution("aten::copy_")
    assert not profile_update.is_convolution("autograd::engine::evaluate_function: ConvolutionBackward0")


def test_the_cheaper_update_is_the_same_in_the_benchmarks_and_the_fast_schedule():
    from dataclasses import replace

    from benchmarks.cheap_update import CHEAPER, FROZEN, HALF_RESOLUTION
    from ttpose.config import TTPConfig, config_from_dict
    from ttpose.schedules import CHEAPER_UPDATE, PAPER_UPDATE, SCHEDULES, FastUpdate

    assert (FROZEN, HALF_RESOLUTION) == ("ttp.update_reconstruction=false", "ttp.loss_pool=2")
    cheap = FastUpdate(16, cheap=True).apply(TTPConfig())
    assert (cheap.update_reconstruction, cheap.loss_pool) == (False, 2) and speed.CHEAPER_UPDATE is CHEAPER_UPDATE
    paper = FastUpdate(16, cheap=False).apply(cheap)  # back to the paper's update from a cheaper config
    assert {k: getattr(paper, k) for k in PAPER_UPDATE} == PAPER_UPDATE == {
        k: getattr(TTPConfig(), k) for k in PAPER_UPDATE}
    assert config_from_dict({}, list(CHEAPER)).ttp == replace(config_from_dict({}, []).ttp, **CHEAPER_UPDATE)
    assert set(CHEAPER) <= set(SCHEDULES["fast"])
