"""The model a run personalizes, with what the run records about it (`LoadedModel`): where it came from, its
identity (the SHA-256 a resume checks), its saved TTP settings, the run's settings made from them, and the
generic model the unpersonalized predictions come from (built once, shared by the videos of `personalize_many`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ttpose.config import (
    SpeedConfig,
    TTPConfig,
    config_from_dict,
    override_key,
    refuse_override,
    to_dict,
    with_added_defaults,
)
from ttpose.convert import load_model_file
from ttpose.model import TTPModel
from ttpose.personalization import model_ttp_config
from ttpose.resume import saved_settings
from ttpose.schedules import (
    FAST_CHOSEN,
    FAST_UPDATES,
    FastChoice,
    FastUpdate,
    agreeing_candidates,
    choose_fast_update,
    schedule_overrides,
)
from ttpose.speed import describe, prediction_model
from ttpose.video_personalize.options import PersonalizeOptions
from ttpose.weights import file_sha256


@dataclass
class LoadedModel:
    """A model with what a run records about it: where it came from, its identity and its saved TTP settings.

    The model is put in eval mode (batch-norm statistics frozen, no dropout), as in the authors' code;
    personalization updates a copy of it.
    """

    model: TTPModel
    checkpoint: str  # the path, or "(model given in Python)"
    ttp: TTPConfig  # the checkpoint's saved ``ttp`` section (a model object's: `model_ttp_config`)
    digest: str  # SHA-256 of the checkpoint file (of the weights for a model object): a resume refuses another
    _generic: dict = field(default_factory=dict, repr=False, compare=False)
    _fast: dict = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def of(checkpoint_or_model: str | Path | TTPModel | LoadedModel,
           log: Callable[[str], None] | None = None) -> LoadedModel:
        """From a model, a ttpose checkpoint or the authors' .pth (converted in memory, said through ``log``).

        The file's weights are read once; its SHA-256 (what ``sha256sum`` prints) is streamed from the file."""
        if isinstance(checkpoint_or_model, LoadedModel):
            return checkpoint_or_model
        if isinstance(checkpoint_or_model, TTPModel):
            model = checkpoint_or_model
            sha = hashlib.sha256()
            for name, tensor in model.state_dict().items():
                sha.update(name.encode())
                sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            return LoadedModel(model.eval(), "(model given in Python)", model_ttp_config(model), sha.hexdigest())
        saved, model, note = load_model_file(checkpoint_or_model)
        if note and log:
            log(f"note: {note}")
        return LoadedModel(model.eval(), str(checkpoint_or_model), saved.ttp, file_sha256(checkpoint_or_model))

    def generic(self, speed: SpeedConfig) -> TTPModel:
        """The model for the generic predictions under ``speed`` (`ttpose.speed.prediction_model`), built once
        per setting: the videos of `personalize_many` share it (with compile_frozen, one compilation)."""
        key = describe(speed)
        if key not in self._generic:
            self._generic[key] = prediction_model(self.model, speed)
        return self._generic[key]

    def ttp_config(self, options: PersonalizeOptions) -> TTPConfig:
        """The run's TTP settings: ``options.config`` (default: the checkpoint's saved ones) with the schedule's
        and then the ``ttp.*`` overrides applied, and ``options.mode``. ``loss.*`` overrides go to the model's
        L_self (e.g. loss.vgg_weights=PATH for the authors' .pth, which does not name its VGG-16 file). The fast
        schedule's update is not set here (`fast_settings`)."""
        base, overrides = options.config or self.ttp, options.overrides
        bad = [o for o in overrides if not o.startswith(("ttp.", "loss."))]
        if bad:
            raise ValueError(f"override {bad[0]!r}: only ttp.* and loss.* settings can be changed here "
                             "(e.g. ttp.lr=1e-5)")
        refuse_override(overrides, "ttp.mode", "--mode")
        ttp = [*schedule_overrides(options.schedule), *(o for o in overrides if o.startswith("ttp."))]
        if ttp:
            base = config_from_dict({"ttp": to_dict(base)}, ttp).ttp
        loss = [o for o in overrides if o.startswith("loss.")]
        if loss:
            saved = to_dict(self.model.loss_config) if self.model.loss_config else {}
            self.model.loss_config = config_from_dict({"loss": saved}, loss).loss
        return replace(base, mode=options.mode)

    def fast_update(self, cfg: TTPConfig, candidates: tuple[FastUpdate, ...] = FAST_UPDATES) -> FastChoice:
        """The fast schedule's update for this model and ``cfg`` on this machine among ``candidates``
        (`ttpose.schedules.choose_fast_update`), timed once: the videos of `personalize_many` share the choice."""
        key = repr(replace(cfg, **dict.fromkeys(FAST_CHOSEN))) + repr(candidates) + repr(self.model.loss_config)
        if key not in self._fast:
            self._fast[key] = choose_fast_update(self.model, cfg, candidates=candidates)
        return self._fast[key]

    def fast_settings(self, cfg: TTPConfig, options: PersonalizeOptions,
                      out_dir: Path) -> tuple[TTPConfig, str | None, float | None]:
        """``cfg`` with the fast schedule's update (its TTP batch, the paper's or the cheaper update, the relative
        gate or not) where the schedule is "fast": a resumed run's saved update where it is one of the candidates,
        else `fast_update` among the candidates that agree with the user's own overrides of those settings
        (`ttpose.schedules.FAST_CHOSEN`; none with the relative gate under the user's threshold gate; said through
        ``options.log``). Where none agrees, nothing is timed: the user's settings over the schedule's (the cheaper
        update of 16 pairs, no gate). Also returns how the update was chosen (for summary.json) and the timed
        seconds of one update (None where not timed)."""
        if options.schedule != "fast":
            return cfg, None, None
        own = {override_key(o).removeprefix("ttp.") for o in options.overrides} & set(FAST_CHOSEN)
        candidates = agreeing_candidates(cfg, own)
        if not candidates:
            return cfg, None, None
        saved = saved_update(out_dir, cfg) if options.resume else None
        if saved in candidates:  # else timed anew: the resume refuses a run saved with another update
            return saved.apply(cfg), "the update of the resumed run", None
        choice = self.fast_update(cfg, candidates)
        how = choice.describe()
        if options.log:
            options.log(how)
        return choice.apply(cfg), how, choice.update_s


def saved_update(out_dir: Path, cfg: TTPConfig) -> FastUpdate | None:
    """The fast schedule's update the run saved in ``out_dir`` (``--resume``) was made with, read as this run's
    ``cfg`` would (options added since at their defaults: `ttpose.config.with_added_defaults`, as the resume's
    fingerprint check does); None where there is no saved run or its settings are not a candidate's (the user's
    own, untimed)."""
    saved = with_added_defaults(saved_settings(out_dir), to_dict(cfg), to_dict(TTPConfig()))
    if not saved or not isinstance(saved.get("batch_size"), int):
        return None
    update = FastUpdate(saved["batch_size"], cheap=saved.get("update_reconstruction") is False,
                        gated=saved.get("relative_gate") is True)
    made = update.apply(TTPConfig())
    return update if all(saved.get(k) == getattr(made, k) for k in FAST_CHOSEN) else None
