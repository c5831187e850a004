"""`ttpose demo` plumbing at tiny sizes: it trains, personalizes, reports and draws (numbers are meaningless)."""

import json

import cv2

from ttpose.cli import main
from ttpose.demo import demo_config, model_statement, run_demo
from ttpose.model import TTPModel


def test_demo_runs_end_to_end_and_reuses_its_training(tmp_path):
    lines = []
    result = run_demo(tmp_path / "demo", quick=True, progress=False, log=lines.append)
    assert set(result.pck) == {"none", "online", "offline"}
    assert all(0.0 <= v <= 100.0 for v in result.pck.values())
    names = sorted(p.name for p in result.pictures)
    assert names == ["affinity.png", "affinity_matrix.png", "before_after.png"]
    for p in result.pictures:
        image = cv2.imread(str(p))
        assert image is not None and image.shape[0] > 32 and image.shape[1] > 32
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert summary["pck"] == result.pck and summary["parameters"] == result.parameters > 0
    assert any("PCK@0.2" in line for line in lines) and any("tiny" in line for line in lines)
    weights = (tmp_path / "demo" / "model.safetensors").stat().st_mtime_ns
    # a second run reuses the finished training (same weights file, same numbers)
    again = run_demo(tmp_path / "demo", quick=True, progress=False, log=lambda _: None)
    assert again.pck == result.pck
    assert (tmp_path / "demo" / "model.safetensors").stat().st_mtime_ns == weights


def test_demo_statement_counts_the_real_parameters():
    model = TTPModel(demo_config().model)
    n = sum(p.numel() for p in model.parameters())
    assert f"{n / 1e6:.2f} M parameters" in model_statement(model)


def test_demo_cli_rejects_unknown_override(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "d"), "train.stepz=3"]) == 2
    assert "train.steps" in capsys.readouterr().err  # the nearest valid key is suggested
    assert not (tmp_path / "d").exists()


def test_quick_demo_has_its_own_default_folder_and_the_statement_names_the_loss(monkeypatch):
    """Regression: `ttpose demo --quick` wrote runs/demo, where a later full demo then refused the quick run."""
    import ttpose.demo

    calls = []
    monkeypatch.setattr(ttpose.demo, "run_demo", lambda out, *a, **k: calls.append(out))
    assert main(["demo", "--quick"]) == 0 and main(["demo"]) == 0
    assert [str(p) for p in calls] == ["runs/demo-quick", "runs/demo"]
    model = TTPModel(demo_config().model)
    assert "pixel L2" in model_statement(model) and "pixel L2" not in model_statement(model, "vgg16")
