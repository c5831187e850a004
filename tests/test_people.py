"""Many people personalized at once (`ttpose.people`): the same predictions as one after another, in order."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch

from conftest import tiny_model
from ttpose.cli import build_parser, main, parse_args
from ttpose.config import TTPConfig
from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
from ttpose.evaluate import evaluate
from ttpose.people import auto_workers, personalize_people

FAST = TTPConfig(batch_size=4, lr=1e-3)


@pytest.fixture(scope="module")
def videos():
    # three people, clips of different lengths: a prediction returned out of order would have the wrong length
    return [materialize(make_video("test", i, config=SyntheticConfig(frame_size=48, frames_per_video=n)))
            for i, n in enumerate((5, 3, 4))]


@contextmanager
def torch_threads(n: int):
    """This process at ``n`` torch threads: two workers then get one each, as one process at one thread has
    (the same arithmetic in both runs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def test_workers_give_each_person_the_predictions_of_a_run_one_after_another(videos):
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch_threads(1):
        alone = personalize_people(model, videos, "online", FAST, seed=3, workers=1, progress=False)
    with torch_threads(2):
        together = personalize_people(model, videos, "online", FAST, seed=3, workers=2, progress=False)
    untouched = personalize_people(model, videos, "none", FAST, workers=1, progress=False)
    assert [len(p.joints) for p in together] == [5, 3, 4]
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(b.joints, a.joints, atol=1e-4)
        np.testing.assert_allclose(b.losses, a.losses, rtol=1e-4)
        assert len(b.losses) == len(b.joints)  # one update per frame
    assert any(not np.allclose(b.joints, c.joints) for b, c in zip(together, untouched, strict=True))  # it did move
    for k, v in model.state_dict().items():  # the workers had copies; the caller's model is as it was
        assert torch.equal(v, before[k]), k


def test_evaluate_with_workers_scores_the_same_and_refuses_zero(videos):
    model = tiny_model()
    with torch_threads(1):
        one, _ = evaluate(model, videos, "offline", FAST, seed=1, progress=False, workers=1)
    with torch_threads(2):
        two, preds = evaluate(model, videos, "offline", FAST, seed=1, progress=False, workers=2)
    assert len(preds) == 3 and one.frames == two.frames == 12
    assert two.mean == pytest.approx(one.mean, abs=1e-6)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        personalize_people(model, videos, "online", FAST, workers=0)


def test_auto_workers_is_one_per_torch_thread_and_at_most_one_per_person():
    with torch_threads(2):
        assert auto_workers(1) == 1 and auto_workers(100) == 2 and auto_workers(0) == 1
        assert auto_workers(100, tiny_model()) == 2
        assert auto_workers(100, tiny_model().to("meta")) == 1  # not on the CPU (an accelerator): one process


def test_cli_refuses_a_worker_count_below_one(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--quick", "--workers", "0"])
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_evaluate_takes_its_worker_count_from_the_command_line_and_defaults_to_one():
    parser = build_parser()
    assert parse_args(parser, ["evaluate", "m.pth", "synthetic", "--ttp", "online"]).workers == 1
    assert parse_args(parser, ["evaluate", "m.pth", "synthetic", "--ttp", "online", "--workers", "2"]).workers == 2
    assert parse_args(parser, ["demo"]).workers is None  # the demo: one per torch thread (auto_workers)
