"""Named online schedules for `ttpose personalize --schedule` (issue 16), and the choice of the fast one's TTP batch on
the machine it runs on.

    overrides = schedule_overrides("fast")                    # dotted TTP settings, the batch size left out
    choice = choose_fast_batch(model, config)                 # timed here: the largest batch that keeps 2 frames/s

"paper" keeps the checkpoint's own TTP settings (an update on every frame). "fast" is the preset the throughput study
(benchmarks/throughput.py) measured: the cheaper update (the reconstruction path kept as trained, L_self at half
resolution) on every 4th frame, with the TTP step and drift control of the synthetic benchmark and this machine's
speed options. Its batch is the study's own rule applied where it runs: on the validation people the larger the
batch, the larger the online gain (RESULTS.md, section throughput_avx512bf16: 16 pairs +4.58, 8 pairs +4.25, 4 pairs
+3.87), so the fast schedule takes the largest of `FAST_BATCHES` whose frames/s, 1 / (prediction + update / 4) timed
with the user's model on this machine, reaches `FAST_FPS`. With the paper's model that rule gives what each study
chose on its CPU: 4 pairs on a 2-core Xeon without bf16 units (section throughput), 16 on an AMD EPYC with
avx512_bf16 (section throughput_avx512bf16), where 16 pairs kept 56 % of the full protocol's online gain on 144 test
people against 36 % for 4 pairs (section more_test_people_avx512bf16).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from ttpose.config import TTPConfig
from ttpose.data.pairs import online_batch
from ttpose.model import TTPModel
from ttpose.personalization import Personalizer, stream_frame
from ttpose.speed import fast_speed, speed_overrides

FAST_EVERY = 4  # the fast schedule updates on every 4th frame
SCHEDULES = {"paper": (), "fast": (f"ttp.update_every={FAST_EVERY}", "ttp.update_reconstruction=false",
                                   "ttp.loss_pool=2")}
# The TTP step and drift control the study measured "fast" with (configs/synthetic/cpu.yaml's): without them the
# preset ran with whatever the checkpoint held (a converted authors' checkpoint: no pull-back), not what was measured
FAST_TTP = ("ttp.lr=1e-4", "ttp.pull_back=3e-2")
FAST_BATCHES = (16, 8, 4)  # the fast schedule's TTP batch: the first (largest) that keeps FAST_FPS, else the last
FAST_FPS = 2.0  # frames/s the fast schedule keeps up (issue 16, point 2)


def schedule_overrides(name: str, device: torch.device | str = "cpu") -> list[str]:
    """Dotted TTP overrides of the named schedule (``SCHEDULES``); "fast" adds ``FAST_TTP`` and
    `ttpose.speed.fast_speed`; its batch size is `choose_fast_batch`'s to set."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")
    if name == "paper":
        return []
    return [*FAST_TTP, *SCHEDULES[name], *speed_overrides(fast_speed(device))]


def _blank_frame(model: TTPModel):
    size = model.config.input_size
    return stream_frame(np.zeros((size, size, 3), np.uint8), None, model.skeleton)


def _median_seconds(step: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` timed calls of ``step``, after one untimed warm-up."""
    step()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def seconds_per_update(model: TTPModel, config: TTPConfig, repeats: int = 1) -> float:
    """Seconds one update of ``config`` takes with ``model`` on this machine: the median of ``repeats`` timed
    updates (after one untimed warm-up) of a throwaway `Personalizer` on a blank frame (the cost does not depend
    on what the frame shows). For estimates such as `ttpose personalize`'s expected time."""
    tuner, video, rng = Personalizer(model, config), _blank_frame(model), np.random.default_rng(0)
    size = model.config.input_size
    return _median_seconds(lambda: tuner.update(online_batch(video, 0, config.batch_size, rng, size,
                                                             tuner.augmentation)), repeats)


def seconds_per_prediction(model: TTPModel, config: TTPConfig, repeats: int = 3) -> float:
    """Seconds the personalized model takes to predict one frame (batch 1, ``config``'s speed options): the median
    of ``repeats`` timed predictions after one untimed warm-up."""
    tuner, video = Personalizer(model, config), _blank_frame(model)
    return _median_seconds(lambda: tuner.predict(video, [0]), repeats)


@dataclass(frozen=True)
class FastBatch:
    """The fast schedule's batch as chosen on this machine, with the timings it was chosen by."""

    batch_size: int
    predict_s: float  # one frame's prediction
    every: int  # an update on every `every`-th frame
    timed: dict[int, float]  # seconds per update of every batch timed (the chosen one, the larger that fell short)
    target_fps: float = FAST_FPS  # the frames/s the batch was chosen to keep
    batches: tuple[int, ...] = FAST_BATCHES  # the candidates, largest first

    @property
    def update_s(self) -> float:
        """Seconds of one update of the chosen batch."""
        return self.timed[self.batch_size]

    @property
    def frames_per_second(self) -> float:
        """Amortized over a video: 1 / (prediction + update / every), as benchmarks/throughput.py counts it."""
        return 1.0 / (self.predict_s + self.update_s / self.every)

    def describe(self) -> str:
        fell_short = [b for b in self.timed if b > self.batch_size]
        why = (f"the largest of {', '.join(map(str, self.batches))} pairs at {self.target_fps:g} frames/s or more here"
               if self.frames_per_second >= self.target_fps else
               f"the smallest; none reaches {self.target_fps:g} frames/s here")
        return (f"fast schedule: updates of {self.batch_size} pairs, one every {self.every} frames ({why}; "
                f"{self.update_s:.2f} s per update, {self.predict_s * 1000:.0f} ms per prediction: "
                f"about {self.frames_per_second:.1f} frames/s"
                + (f"; {', '.join(f'{b} pairs {self.timed[b]:.2f} s' for b in fell_short)} fell short" if fell_short
                   else "") + ")")


def choose_fast_batch(model: TTPModel, config: TTPConfig, target_fps: float = FAST_FPS,
                      batches: tuple[int, ...] = FAST_BATCHES) -> FastBatch:
    """The largest of ``batches`` whose frames/s with ``model`` on this machine, 1 / (prediction + update /
    ``config.update_every``), reaches ``target_fps``; the last (smallest) where none does. Each batch is timed by
    `seconds_per_update` (the median of 3 after a warm-up; largest first, stopping at the first that is fast
    enough), the prediction likewise. ``config`` is the schedule's (``update_every`` included, e.g.
    ``config_from_dict({}, schedule_overrides("fast")).ttp``); in offline mode the same rate is the rule's measure
    (as many updates as online would make)."""
    predict_s = seconds_per_prediction(model, config)
    timed: dict[int, float] = {}
    for batch in batches:
        timed[batch] = seconds_per_update(model, replace(config, batch_size=batch), repeats=3)
        if 1.0 / (predict_s + timed[batch] / config.update_every) >= target_fps:
            break
    return FastBatch(batch, predict_s, config.update_every, timed, target_fps, tuple(batches))


__all__ = ["FAST_BATCHES", "FAST_EVERY", "FAST_FPS", "FAST_TTP", "SCHEDULES", "FastBatch", "choose_fast_batch",
           "schedule_overrides", "seconds_per_prediction", "seconds_per_update"]
