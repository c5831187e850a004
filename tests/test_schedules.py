"""ttpose.schedules: the named online schedules of `ttpose personalize --schedule` and the fast one's batch, chosen
by timing on the machine it runs on (issue 16, point 2)."""

from __future__ import annotations

import re

import pytest

import ttpose.schedules as schedules
from conftest import TINY_MODEL
from ttpose.config import LossConfig, TTPConfig, config_from_dict
from ttpose.model import TTPModel
from ttpose.schedules import FAST_BATCHES, FAST_FPS, choose_fast_batch, schedule_overrides


def fake_timing(monkeypatch, update: dict[int, float], predict: float) -> list[int]:
    timed = []

    def seconds_per_update(model, cfg, repeats=3):
        timed.append(cfg.batch_size)
        return update[cfg.batch_size]

    monkeypatch.setattr(schedules, "seconds_per_update", seconds_per_update)
    monkeypatch.setattr(schedules, "seconds_per_prediction", lambda model, cfg, repeats=3: predict)
    return timed


@pytest.mark.parametrize(("update", "chosen", "timed", "fast_enough"), [
    ({16: 1.0, 8: 0.5, 4: 0.3}, 16, [16], True),  # 1 / (0.1 + 1.0 / 4) = 2.86 frames/s: the largest, timed alone
    ({16: 2.0, 8: 1.5, 4: 0.3}, 8, [16, 8], True),  # 16: 1 / (0.1 + 0.5) = 1.67; 8: 1 / (0.1 + 0.375) = 2.11
    ({16: 9.0, 8: 5.0, 4: 3.0}, 4, [16, 8, 4], False),  # none reaches 2 frames/s (4: 1.18): the smallest
])
def test_the_fast_batch_is_the_largest_that_keeps_two_frames_a_second(monkeypatch, update, chosen, timed,
                                                                      fast_enough):
    seen = fake_timing(monkeypatch, update, predict=0.1)
    cfg = config_from_dict({}, schedule_overrides("fast")).ttp
    choice = choose_fast_batch(TTPModel(TINY_MODEL), cfg)
    assert (choice.batch_size, seen) == (chosen, timed)
    assert choice.frames_per_second == pytest.approx(1 / (0.1 + update[chosen] / 4))
    assert (choice.frames_per_second >= FAST_FPS) == fast_enough
    assert f"updates of {chosen} pairs, one every 4 frames" in choice.describe()
    assert ("none reaches" in choice.describe()) == (not fast_enough)


def test_the_timings_are_real_on_a_tiny_model():
    model, cfg = TTPModel(TINY_MODEL), TTPConfig(batch_size=2, update_every=4)
    model.loss_config = LossConfig(perceptual="pixel")
    choice = choose_fast_batch(model, cfg, target_fps=1e9, batches=(3, 2))  # none that fast: both timed, 2 taken
    assert choice.batch_size == 2 and set(choice.timed) == {3, 2} and 0 < choice.update_s < 60
    assert 0 < choice.predict_s < 10 and "none reaches 1e+09 frames/s" in choice.describe()


def _study_timing(section: str) -> tuple[float, dict[int, float]]:
    """The paper-size prediction and cheap-update seconds a throughput section measured."""
    from benchmarks.common import read_section

    text = read_section(section)
    predict = float(re.search(r"prediction (\d+) ms per frame", text).group(1)) / 1000
    cheap = {int(b): float(s) for b, s in re.findall(r"batch (\d+) cheap: ([\d.]+) s", text)}
    return predict, cheap


@pytest.mark.parametrize("section", ["throughput", "throughput_avx512bf16"])
def test_the_rule_gives_what_each_throughput_study_chose_on_its_cpu(monkeypatch, section):
    """With each study's paper-size timings (a Xeon without bf16 units; an EPYC with avx512_bf16) the fast
    schedule's rule picks the preset that study chose on its validation people; its other settings are the
    study's."""
    from benchmarks.common import read_section
    from benchmarks.throughput import schedule_config

    predict, cheap = _study_timing(section)
    assert set(FAST_BATCHES) <= set(cheap)
    fake_timing(monkeypatch, cheap, predict)
    preset = config_from_dict({}, schedule_overrides("fast")).ttp
    choice = choose_fast_batch(TTPModel(TINY_MODEL), preset)
    chosen = re.search(r"Preset chosen on val: \*\*(.+?)\*\*", read_section(section)).group(1)
    studied = schedule_config(chosen).ttp
    assert choice.batch_size == studied.batch_size and choice.frames_per_second >= FAST_FPS
    assert (preset.update_every, preset.update_reconstruction, preset.loss_pool, preset.lr, preset.pull_back) == (
        studied.update_every, studied.update_reconstruction, studied.loss_pool, studied.lr, studied.pull_back)
    assert preset.pull_back > 0  # noticed before: without it a converted checkpoint ran another protocol


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of paper, fast"):
        schedule_overrides("turbo")
