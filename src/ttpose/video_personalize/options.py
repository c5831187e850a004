"""What the user chooses for a run of `personalize_video` / `personalize_many` (`PersonalizeOptions`): the mode,
the TTP settings, the person's boxes, the crops, the outputs and the run itself; everything besides the input,
the model and the output folder. The command (``ttpose personalize``) builds one from its flags."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttpose.background import BackgroundOptions
from ttpose.config import TTPConfig
from ttpose.schedules import SCHEDULES
from ttpose.smoothing import SMOOTH_ORDER
from ttpose.tracking import TrackingOptions

MODES = ("online", "offline")
BOX_SMOOTH = 9  # default moving-average window of the boxes, frames (`ttpose.video_personalize.pipeline`, step 2)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class PersonalizeOptions:
    """Every choice of `personalize_video` / `personalize_many` besides the input, the model and the output folder.

    ``config`` defaults to the checkpoint's saved TTP settings; ``schedule`` "fast" applies the fast schedule's
    settings (`ttpose.schedules`: its update timed and chosen on this machine) and ``overrides``, ``ttp.KEY=VALUE``
    (and ``loss.KEY=VALUE``, for the model's L_self) strings, are applied on top (a ``ttp.batch_size``,
    ``ttp.update_reconstruction`` or ``ttp.loss_pool`` among them also narrows the timed choice to the candidates
    that agree with it, or skips it where none does). ``boxes`` is a box
    file (JSON or CSV, `ttpose.boxes`; for `personalize_many` a folder of them, named after the videos), ``box`` a fixed
    x1,y1,x2,y2 box; with neither, the person is tracked by the model (`ttpose.tracking`, with ``tracking``'s
    options; guided by the still scene, `ttpose.background`, with ``background``'s options, or not at all with
    ``background=None``, for a moving camera), or with ``tracking=None`` the whole frame is the box.
    ``smooth`` is an odd Savitzky-Golay window (None: no smoothing). Every ``save_every`` frames (rounded up to
    a multiple of 16) the state is saved for ``resume``. ``log`` receives one-line messages (the box source,
    skipped frames); ``on_frame(index)`` is called after each frame of pass 1 (e.g. a test may raise
    KeyboardInterrupt there).
    """

    mode: str = "online"  # "online" or "offline" (Sec. 3.2)
    config: TTPConfig | None = None
    schedule: str = "paper"  # a named schedule of `ttpose.schedules` ("fast": its batch chosen on this machine)
    overrides: Sequence[str] = ()
    seed: int = 0
    # the person's box in each frame (step 2)
    boxes: str | Path | None = None
    box: str | Sequence[float] | None = None
    tracking: TrackingOptions | None = TrackingOptions()  # frozen: one shared default is safe
    background: BackgroundOptions | None = BackgroundOptions()  # the still-scene cue of the tracker; None: off
    box_smooth: int | None = None  # moving-average window; None: BOX_SMOOTH (tracked online: 1)
    # the crops the offline updates draw from (`CropStore`)
    margin: float = 1.5
    jpeg_quality: int | None = 95
    # outputs
    smooth: int | None = None
    overlay: bool = True
    # the run
    resume: bool = False
    save_every: int = 256
    progress: bool = True
    log: Callable[[str], None] | None = _stderr
    on_frame: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        least = SMOOTH_ORDER + 3 - SMOOTH_ORDER % 2  # the smallest odd window > order + 1 (a fit changes it): 5
        if self.smooth is not None and (int(self.smooth) < least or int(self.smooth) % 2 == 0):
            raise ValueError(f"smoothing window must be an odd number of frames >= {least} (a quadratic fit over "
                             f"fewer points changes nothing), got {self.smooth}")
        if self.box_smooth is not None and int(self.box_smooth) < 1:
            raise ValueError(f"box smoothing window must be at least 1 frame, got {self.box_smooth}")

    @staticmethod
    def given(options: PersonalizeOptions | None) -> PersonalizeOptions:
        """``options``, or the defaults for None; anything else is refused (e.g. the mode where the options go,
        as before they existed)."""
        if options is None:
            return PersonalizeOptions()
        if not isinstance(options, PersonalizeOptions):
            raise TypeError(f"options must be a PersonalizeOptions (e.g. PersonalizeOptions(mode=\"offline\")), "
                            f"got {options!r}")
        return options
