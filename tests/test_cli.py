"""Command-line parsing: overrides may come after options."""

import pytest

from ttpose.cli import build_parser, parse_args


def test_overrides_after_an_option():
    args = parse_args(build_parser(), ["train", "cfg.yaml", "model.backbone=resnet18", "--resume", "train.steps=10"])
    assert args.resume and args.overrides == ["model.backbone=resnet18", "train.steps=10"]
    args = parse_args(build_parser(), ["evaluate", "m.pth", "penn_action", "--ttp", "none", "ttp.lr=1e-5"])
    assert args.ttp == "none" and args.overrides == ["ttp.lr=1e-5"]


@pytest.mark.parametrize("argv", [["train", "cfg.yaml", "--resume", "--bogus"], ["convert", "a.pth", "b", "x=1"],
                                  ["train", "cfg.yaml", "--resume", "stray"]])
def test_anything_else_is_still_an_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(build_parser(), argv)
    assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_evaluate_refuses_zero_or_negative_videos(capsys):
    """Bug: --videos 0 evaluated every video and --videos -1 all but the last, exit 0."""
    for n in ("0", "-1"):
        with pytest.raises(SystemExit) as exit_:
            parse_args(build_parser(), ["evaluate", "m.safetensors", "synthetic", "--videos", n])
        assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_evaluate_never_writes_into_the_package_by_default(tmp_path):
    """Bug: `ttpose evaluate` on the demo's shipped model wrote eval-* into src/ttpose/demo_model/."""
    from pathlib import Path

    from ttpose.cli import default_eval_dir
    from ttpose.demo import SHIPPED_MODEL

    assert default_eval_dir(SHIPPED_MODEL, "eval-x") == Path("runs") / "demo_model-eval-x"
    assert default_eval_dir(tmp_path / "run" / "model.safetensors", "eval-x") == tmp_path / "run" / "eval-x"


def test_train_refuses_an_output_dir_that_holds_a_run(tmp_path, capsys):
    """Bug: running `ttpose train` again silently retrained a finished run from step 0 over its files."""
    from ttpose.cli import main

    (tmp_path / "model.safetensors").write_bytes(b"a finished run")
    assert main(["train", "configs/synthetic/cpu.yaml", f"output_dir={tmp_path}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a training run" in err[0] and "--overwrite" in err[0]
    assert (tmp_path / "model.safetensors").read_bytes() == b"a finished run"
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    (interrupted / "train_state.safetensors").write_bytes(b"half a run")
    assert main(["train", "configs/synthetic/cpu.yaml", f"output_dir={interrupted}", "--quiet"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one or the other
        parse_args(build_parser(), ["train", "cfg.yaml", "--resume", "--overwrite"])


def test_train_overwrite_removes_the_old_model_before_it_trains(tmp_path, monkeypatch, capsys):
    """--overwrite: an interrupted new run must not leave the old model beside its state for evaluate to pick up."""
    import ttpose.training
    from ttpose.cli import main

    (tmp_path / "model.safetensors").write_bytes(b"the old run")
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.old").write_bytes(b"old curves")

    def interrupted(cfg, resume, progress):
        assert not resume and not (tmp_path / "model.safetensors").exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(ttpose.training, "train", interrupted)
    assert main(["train", "configs/synthetic/cpu.yaml", f"output_dir={tmp_path}", "--overwrite", "--quiet"]) == 130
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / "tb").exists()


def test_evaluate_refuses_a_ttp_mode_override(tmp_path, capsys):
    """Bug: `ttpose evaluate CKPT synthetic ttp.mode=offline` ran without TTP (--ttp's default) and said nothing."""
    from ttpose.cli import main
    from ttpose.demo import SHIPPED_MODEL

    assert main(["evaluate", str(SHIPPED_MODEL), "synthetic", "ttp.mode=offline", "--out", str(tmp_path / "o")]) == 2
    assert "--ttp" in capsys.readouterr().err and not (tmp_path / "o").exists()
    # bug: --split val on a real dataset ran its test split and labelled the results "val"
    assert main(["evaluate", str(SHIPPED_MODEL), "penn_action", "--root", str(tmp_path), "--split", "val",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no validation split" in capsys.readouterr().err and not (tmp_path / "o").exists()
