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
