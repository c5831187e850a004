"""ttpose.schedules: the named online schedules of `ttpose personalize --schedule` and the fast one's batch, chosen
by timing on the machine it runs on (issue 16, point 2)."""

from __future__ import annotations

import re

import pytest

import ttpose.schedules as schedules
from conftest import TINY_MODEL
from ttpose.config import LossConfig, TTPConfig, config_from_dict
from ttpose.model import TTPModel
from ttpose.schedules import (
    FAST_FPS,
    FAST_UPDATES,
    FastUpdate,
    choose_fast_update,
    schedule_overrides,
)

PAPER16, CHEAP16, CHEAP8, CHEAP4 = FAST_UPDATES


def fake_timing(monkeypatch, update: dict[FastUpdate, float], predict: float) -> list[FastUpdate]:
    timed = []

    def seconds_per_update(model, cfg, repeats=3):
        assert cfg.loss_pool == (2 if not cfg.update_reconstruction else 1)  # a candidate's own settings
        timed.append(FastUpdate(cfg.batch_size, cheap=not cfg.update_reconstruction))
        return update[timed[-1]]

    monkeypatch.setattr(schedules, "seconds_per_update", seconds_per_update)
    monkeypatch.setattr(schedules, "seconds_per_prediction", lambda model, cfg, repeats=3: predict)
    return timed


def test_the_candidates_go_from_the_paper_update_to_cheaper_and_smaller_ones():
    assert FAST_UPDATES == (FastUpdate(16, False), FastUpdate(16, True), FastUpdate(8, True), FastUpdate(4, True))
    cfg = config_from_dict({}, schedule_overrides("fast")).ttp
    paper, cheap = PAPER16.apply(cfg), CHEAP8.apply(cfg)
    assert (paper.batch_size, paper.update_reconstruction, paper.loss_pool) == (16, True, 1)
    assert (cheap.batch_size, cheap.update_reconstruction, cheap.loss_pool) == (8, False, 2)
    assert paper.update_every == cheap.update_every == 4 and paper.lr == cfg.lr


@pytest.mark.parametrize(("update", "chosen", "tried", "fast_enough"), [
    # 1 / (0.1 + 1.0 / 4) = 2.86 frames/s: the paper's update of 16 pairs, timed alone
    ((1.0, 0.6, 0.5, 0.3), PAPER16, 1, True),
    # the paper's update 1 / (0.1 + 0.75) = 1.18; 16 cheap pairs 1 / (0.1 + 0.25) = 2.86
    ((3.0, 1.0, 0.5, 0.3), CHEAP16, 2, True),
    # 16 cheap pairs 1.67; 8 cheap pairs 1 / (0.1 + 0.375) = 2.11
    ((4.0, 2.0, 1.5, 0.3), CHEAP8, 3, True),
    ((12.0, 9.0, 5.0, 3.0), CHEAP4, 4, False),  # none reaches 2 frames/s (4 pairs: 1.18): the last
])
def test_the_fast_update_is_the_first_that_keeps_two_frames_a_second(monkeypatch, update, chosen, tried, fast_enough):
    seen = fake_timing(monkeypatch, dict(zip(FAST_UPDATES, update, strict=True)), predict=0.1)
    cfg = config_from_dict({}, schedule_overrides("fast")).ttp
    choice = choose_fast_update(TTPModel(TINY_MODEL), cfg)
    assert (choice.update, seen) == (chosen, list(FAST_UPDATES[:tried]))
    assert choice.frames_per_second == pytest.approx(1 / (0.1 + update[tried - 1] / 4))
    assert (choice.frames_per_second >= FAST_FPS) == fast_enough
    assert f"updates of {chosen}, one every 4 frames" in choice.describe()
    assert ("none reaches" in choice.describe()) == (not fast_enough)
    assert choice.apply(cfg).batch_size == chosen.batch_size


def test_the_timings_are_real_on_a_tiny_model():
    model, cfg = TTPModel(TINY_MODEL), TTPConfig(batch_size=2, update_every=4)
    model.loss_config = LossConfig(perceptual="pixel")
    candidates = (FastUpdate(3, cheap=False), FastUpdate(2, cheap=True))
    choice = choose_fast_update(model, cfg, target_fps=1e9, candidates=candidates)  # none that fast: both timed
    assert choice.update == candidates[1] and set(choice.timed) == set(candidates) and 0 < choice.update_s < 60
    assert 0 < choice.predict_s < 10 and "none reaches 1e+09 frames/s" in choice.describe()
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_fast_update(model, cfg, candidates=())


def _study_timing(section: str) -> tuple[float, dict[FastUpdate, float]]:
    """The paper-size prediction and update seconds a throughput section measured."""
    from benchmarks.common import read_section

    text = read_section(section)
    predict = float(re.search(r"prediction (\d+) ms per frame", text).group(1)) / 1000
    updates = {FastUpdate(int(b), cheap=bool(c)): float(s)
               for b, c, s in re.findall(r"batch (\d+)( cheap)?: ([\d.]+) s", text)}
    return predict, updates


@pytest.mark.parametrize(("timing", "chosen_in", "pattern"), [
    ("throughput", "throughput", r"Preset chosen on val: \*\*(.+?)\*\*"),  # a Xeon without bf16 units
    ("throughput_avx512bf16", "fast_preset_avx512bf16", r"Chosen on val: \*\*(.+?)\*\*"),  # an EPYC, 64 val people
])
def test_the_rule_gives_what_each_study_chose_on_its_cpu(monkeypatch, timing, chosen_in, pattern):
    """With each study's paper-size timings the fast schedule's rule picks the schedule that study chose on its
    validation people; its other settings are the study's."""
    from benchmarks.common import read_section
    from benchmarks.throughput import schedule_config

    predict, measured = _study_timing(timing)
    assert set(FAST_UPDATES) <= set(measured)
    fake_timing(monkeypatch, measured, predict)
    preset = config_from_dict({}, schedule_overrides("fast")).ttp
    choice = choose_fast_update(TTPModel(TINY_MODEL), preset)
    studied = schedule_config(re.search(pattern, read_section(chosen_in)).group(1)).ttp
    ours = choice.apply(preset)
    assert choice.frames_per_second >= FAST_FPS
    assert (ours.batch_size, ours.update_every, ours.update_reconstruction, ours.loss_pool, ours.lr,
            ours.pull_back) == (studied.batch_size, studied.update_every, studied.update_reconstruction,
                                studied.loss_pool, studied.lr, studied.pull_back)
    assert preset.pull_back > 0  # noticed before: without it a converted checkpoint ran another protocol


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of paper, fast"):
        schedule_overrides("turbo")
