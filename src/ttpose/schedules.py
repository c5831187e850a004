"""Named online schedules for `ttpose personalize --schedule` (issue 16), and the choice of the fast one's update on
the machine it runs on.

    overrides = schedule_overrides("fast")                    # dotted TTP settings, the update left to the timing
    choice = choose_fast_update(model, config)                # timed here: the first of FAST_UPDATES at 2 frames/s

"paper" keeps the checkpoint's own TTP settings (an update on every frame). "fast" is an update on every 4th frame,
with the TTP step and drift control of the synthetic benchmark and this machine's speed options; its update (the TTP
batch, the paper's update or the cheaper one: the reconstruction path kept as trained, L_self at half resolution,
and the relative gate on or off: `ttpose.confidence_gate`, one more prediction per frame) is the first of
`FAST_UPDATES` whose frames/s, 1 / (prediction + update / 4) timed with the user's model on this machine, reaches
`FAST_FPS`. The candidates are in the order of their online gain on the synthetic validation people (RESULTS.md): on
64 val people (section fast_preset_avx512bf16) the paper's update of 16 pairs on every 4th frame with the relative
gate +2.72, without it +1.96, the cheaper one of 16 pairs +1.47, of 8 pairs +1.40 (the full protocol +1.95); on 16
val people (section throughput_avx512bf16) the cheaper update of 16, 8 and 4 pairs +4.58, +4.25, +3.87. With the
paper's model that rule gives: on an AMD EPYC with avx512_bf16, the paper's update of 16 pairs with the gate (2.30
paper-size frames/s; on 64 test people +1.90, 120 % of the full protocol's online gain; without the gate, 2.45
frames/s, 98 %; the cheaper update of 16 pairs 78 %); on a 2-core Xeon without bf16 units, the cheaper update of 4
pairs (section throughput; the paper's update of 16 pairs runs at about 0.5 frames/s there, with the gate or
without). The gate's val gain is optimistic (the relative rule was picked among probe rules on the Transformer's
full-protocol val cells, section confidence_gate); on 64 test people it also gained more (+1.90 against +1.54). The
gate with the cheaper updates was not measured, so it is not a candidate.
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
# The cheaper update (not the paper's maths): the reconstruction path kept as trained, L_self on the images
# average-pooled by 2; and the paper's update, the same two TTP settings at their defaults
CHEAPER_UPDATE = {"update_reconstruction": False, "loss_pool": 2}
PAPER_UPDATE = {"update_reconstruction": True, "loss_pool": 1}


def ttp_overrides(settings: dict) -> tuple[str, ...]:
    """TTP settings as dotted command-line overrides: {"loss_pool": 2} -> ("ttp.loss_pool=2",)."""
    return tuple(f"ttp.{key}={str(value).lower()}" for key, value in settings.items())


# The fast schedule's settings before its update is chosen: the cheaper update of 16 pairs without the relative gate,
# which also stands under the user's own ttp.batch_size / update_reconstruction / loss_pool / relative_gate where no
# candidate agrees with them
SCHEDULES = {"paper": (), "fast": (f"ttp.update_every={FAST_EVERY}", "ttp.batch_size=16",
                                   *ttp_overrides(CHEAPER_UPDATE), "ttp.relative_gate=false")}
# The TTP step and drift control the study measured "fast" with (configs/synthetic/cpu.yaml's): without them the
# preset ran with whatever the checkpoint held (a converted authors' checkpoint: no pull-back), not what was measured
FAST_TTP = ("ttp.lr=1e-4", "ttp.pull_back=3e-2")
FAST_FPS = 2.0  # frames/s the fast schedule keeps up (issue 16, point 2)
# the TTP settings the timing chooses (relative_gate joined later: a run saved before it had it off)
FAST_CHOSEN = ("batch_size", "update_reconstruction", "loss_pool", "relative_gate")


@dataclass(frozen=True)
class FastUpdate:
    """One candidate update of the fast schedule: its TTP batch, the paper's update or the cheaper one
    (``ttp.update_reconstruction=false``: the reconstruction path stays as trained; ``ttp.loss_pool=2``: L_self on
    the images average-pooled by 2), and the relative gate (``ttp.relative_gate``: the trained model predicts each
    frame too)."""

    batch_size: int
    cheap: bool
    gated: bool = False

    def apply(self, config: TTPConfig) -> TTPConfig:
        """``config`` with this update's settings (`FAST_CHOSEN`)."""
        return replace(config, batch_size=self.batch_size, relative_gate=self.gated,
                       **(CHEAPER_UPDATE if self.cheap else PAPER_UPDATE))

    def __str__(self) -> str:
        kind = "the cheaper update" if self.cheap else "the paper's update"
        return f"{self.batch_size} pairs, {kind}" + (", with the relative gate" if self.gated else "")


# The candidates, best online gain on the synthetic validation people first (module docstring)
FAST_UPDATES = (FastUpdate(16, cheap=False, gated=True), FastUpdate(16, cheap=False), FastUpdate(16, cheap=True),
                FastUpdate(8, cheap=True), FastUpdate(4, cheap=True))


def agreeing_candidates(config: TTPConfig, own: set[str] = frozenset(),
                        candidates: tuple[FastUpdate, ...] = FAST_UPDATES) -> tuple[FastUpdate, ...]:
    """The ``candidates`` that agree with ``config`` on the settings of `FAST_CHOSEN` named in ``own`` (those the
    user set), without those with the relative gate where ``config`` has a threshold gate (``ttp.confidence_gate``:
    the two gates are exclusive)."""
    return tuple(u for u in candidates if all(getattr(u.apply(config), k) == getattr(config, k) for k in own)
                 and not (u.gated and config.confidence_gate > 0))


def schedule_overrides(name: str, device: torch.device | str = "cpu") -> list[str]:
    """Dotted TTP overrides of the named schedule (``SCHEDULES``); "fast" adds ``FAST_TTP`` and
    `ttpose.speed.fast_speed`; its update (`FAST_CHOSEN`) is `choose_fast_update`'s to set."""
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
    """Seconds the personalized model takes to predict one frame (batch 1, ``config``'s speed options; with a gate,
    the trained model's prediction too): the median of ``repeats`` timed predictions after one untimed warm-up."""
    tuner, video = Personalizer(model, config), _blank_frame(model)
    return _median_seconds(lambda: tuner.predict(video, [0]), repeats)


@dataclass(frozen=True)
class FastChoice:
    """The fast schedule's update as chosen on this machine, with the timings it was chosen by."""

    update: FastUpdate
    predicted: dict[bool, float]  # seconds of one frame's prediction, without (False) and with (True) the gate
    every: int  # an update on every `every`-th frame
    timed: dict[FastUpdate, float]  # seconds per update of every candidate timed (the chosen one, those before it)
    target_fps: float = FAST_FPS  # the frames/s the update was chosen to keep
    candidates: tuple[FastUpdate, ...] = FAST_UPDATES  # in the order they were tried

    @property
    def update_s(self) -> float:
        """Seconds of one chosen update."""
        return self.timed[self.update]

    @property
    def predict_s(self) -> float:
        """Seconds of one frame's prediction under the chosen update (with the gate: both models')."""
        return self.predicted[self.update.gated]

    def frames_per_second_of(self, update: FastUpdate) -> float:
        """A timed candidate's frames/s amortized over a video: 1 / (prediction + update / every), as
        benchmarks/throughput.py counts it."""
        return 1.0 / (self.predicted[update.gated] + self.timed[update] / self.every)

    @property
    def frames_per_second(self) -> float:
        """The chosen update's frames/s (`frames_per_second_of`)."""
        return self.frames_per_second_of(self.update)

    def apply(self, config: TTPConfig) -> TTPConfig:
        """``config`` with the chosen update's settings."""
        return self.update.apply(config)

    def describe(self) -> str:
        fell_short = [f"{u} {self.timed[u]:.2f} s ({self.frames_per_second_of(u):.1f} frames/s)" for u in self.timed
                      if u != self.update]
        why = (f"the first of {len(self.candidates)} candidates at {self.target_fps:g} frames/s or more here"
               if self.frames_per_second >= self.target_fps else
               f"the last candidate; none reaches {self.target_fps:g} frames/s here")
        return (f"fast schedule: updates of {self.update}, one every {self.every} frames ({why}; "
                f"{self.update_s:.2f} s per update, {self.predict_s * 1000:.0f} ms per prediction: "
                f"about {self.frames_per_second:.1f} frames/s"
                + (f"; {', '.join(fell_short)} fell short" if fell_short else "") + ")")


def choose_fast_update(model: TTPModel, config: TTPConfig, target_fps: float = FAST_FPS,
                       candidates: tuple[FastUpdate, ...] = FAST_UPDATES) -> FastChoice:
    """The first of ``candidates`` whose frames/s with ``model`` on this machine, 1 / (prediction + update /
    ``config.update_every``), reaches ``target_fps``; the last where none does. Each is timed by
    `seconds_per_update` (the median of 3 after a warm-up; in order, stopping at the first that is fast enough;
    an update with and without the gate timed once), the prediction likewise (with and without the gate, as the
    candidates need); candidates with the relative gate are left out where ``config`` has a threshold gate.
    ``config`` is the schedule's (``update_every`` included, e.g. ``config_from_dict({},
    schedule_overrides("fast")).ttp``); in offline mode the same rate is the rule's measure (as many updates as
    online would make)."""
    candidates = agreeing_candidates(config, candidates=tuple(candidates))
    if not candidates:
        raise ValueError("choose_fast_update needs at least one candidate update (none with the relative gate "
                         "under a threshold gate)")
    predicted: dict[bool, float] = {}
    timed: dict[FastUpdate, float] = {}
    seconds: dict[FastUpdate, float] = {}  # by the update without the gate: the gate acts on predictions only
    for update in candidates:
        if update.gated not in predicted:
            predicted[update.gated] = seconds_per_prediction(model, update.apply(config))
        plain = replace(update, gated=False)
        if plain not in seconds:
            seconds[plain] = seconds_per_update(model, plain.apply(config), repeats=3)
        timed[update] = seconds[plain]
        choice = FastChoice(update, predicted, config.update_every, timed, target_fps, candidates)
        if choice.frames_per_second >= target_fps:
            break
    return choice


__all__ = ["FAST_CHOSEN", "FAST_EVERY", "FAST_FPS", "FAST_TTP", "FAST_UPDATES", "SCHEDULES", "FastChoice",
           "FastUpdate", "agreeing_candidates", "choose_fast_update", "schedule_overrides", "seconds_per_prediction",
           "seconds_per_update"]
