"""Typed configuration: dataclasses, loaded from YAML, with dotted command-line overrides.

    cfg = load_config("configs/synthetic/cpu.yaml", ["model.backbone=resnet50", "train.steps=100"])

Every key is checked: an unknown key is an error that names the key and its nearest valid name, and a
value of the wrong type is an error that names the key and the expected type. The paper's configuration
(Penn Action, ResNet-50, 128 x 128, Sec. 4.2) is the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration problem, stated in one line."""


def scaled_sigma(input_size: int) -> float:
    """The paper's Gaussian std (2 heatmap pixels on the 32 x 32 grid of 128 x 128 crops), scaled to the grid of
    ``input_size`` crops: input_size / 64. Used for the target heatmaps (Eq. 9) and the bottleneck's Gaussians."""
    return input_size / 64


@dataclass
class ModelConfig:
    """The network of Sec. 3.1 / Fig. 2 and its sizes (Sec. 4.2)."""

    backbone: Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] = "resnet50"
    backbone_width: int = 64  # ResNet stem/layer1 channels (64 = torchvision; smaller for CPU presets)
    # path to a torchvision ImageNet ResNet state dict (.pth/.safetensors), or a ttpose model file (its ResNet)
    pretrained: str | None = None
    skeleton: Literal["penn_action", "mpii", "bbc_pose"] = "penn_action"  # supervised joints (k_sup)
    input_size: int = 128  # square crops; must be divisible by 32
    num_maps: int = 30  # k_self, the number of self-supervised keypoints
    sup_head: Literal["transformer", "conv"] = "transformer"  # Eq. 2-8 affinity head, or a 1x1 conv
    self_task: Literal["keypoint", "rotation", "none"] = "keypoint"  # the self-supervised objective
    deconv_channels: int = 256  # c, the width of the 3 deconvolutions and of F
    encoder_widths: tuple[int, ...] = (32, 64, 128, 256)  # appearance and pose encoder stages
    renderer_widths: tuple[int, ...] = (256, 128, 64, 32)  # renderer stages
    transformer_layers: int = 1
    transformer_heads: int = 4
    transformer_ff: int = 1024
    transformer_dropout: float = 0.1
    # std of the bottleneck's Gaussians in heatmap pixels; None: the paper's 2 on its 32 x 32 grid, scaled with
    # the grid (input_size / 64), so that a smaller crop does not get relatively wider Gaussians
    sigma: float | None = None
    # initialisation of the heads: "authors" = their init_weights (deconvolutions, the conv head and every
    # Linear of the Transformer decoder N(0, 0.001); the affinity projection P and the self-supervised head keep
    # PyTorch's default); "small" = P and the self-supervised head also N(0, 0.001) (ttpose before 2026-11-30);
    # "pytorch" (not the authors'): the decoder's Linear layers too keep PyTorch's default, so that the cross-
    # attention reads the image from step 0 (with theirs W ends nearly the same for every frame: RESULTS.md,
    # section affinity_source)
    head_init: Literal["authors", "small", "pytorch"] = "authors"
    # What the weights were trained on (the authors' checkpoints differ from ttpose's own; docs/reproduce.md):
    # the colour order of the images (normalised with the RGB ImageNet statistics either way), and the
    # coordinate the training labels gave the first pixel (1: MATLAB labels), subtracted from predictions.
    input_order: Literal["rgb", "bgr"] = "rgb"
    label_origin: float = 0.0

    @property
    def gaussian_sigma(self) -> float:
        """The bottleneck's Gaussian std in heatmap pixels (``sigma``, or 2 scaled to the heatmap grid)."""
        return self.sigma if self.sigma is not None else scaled_sigma(self.input_size)


@dataclass
class LossConfig:
    """Eq. 1, 9, 10 and the rotation baseline's loss."""

    lam: float = 1e-3  # lambda of Eq. 10 (1e-3 Penn Action / BBC Pose, 1e-5 Human3.6M, 1e-4 rotation)
    # not in the paper: lambda from the first of train.lr_steps on (None: lam throughout, Eq. 10 as written)
    lam_late: float | None = None
    # not in the paper: the fraction of lambda L_self's gradient that reaches the shared encoder phi (1: Eq. 10 as
    # written); the self-supervised head and the reconstruction path get all of it (TTPModel.forward)
    self_to_encoder: float = 1.0
    perceptual: Literal["vgg16", "pixel"] = "vgg16"  # pixel = L2 only (no VGG-16 weights needed)
    vgg_weights: str | None = None  # torchvision VGG-16 ImageNet state dict; see docs/losses.md
    running_mean_momentum: float = 0.01
    running_mean_init: tuple[float, ...] = (0.1966, 0.8725, 3.4260, 7.4396, 4.1430, 1.1304)


@dataclass
class DataConfig:
    dataset: Literal["synthetic", "penn_action", "h36m", "bbc_pose"] = "penn_action"
    root: str | None = None  # dataset folder (real datasets)
    seed: int = 0  # synthetic people: the populations (kept fixed across training seeds)
    # synthetic people (ttpose.data.synthetic)
    train_videos: int = 200
    val_videos: int = 16
    test_videos: int = 16
    frames_per_video: int = 48
    test_frames: int | None = None  # synthetic val and test people: frames per video (None: frames_per_video)
    frame_size: int = 128
    shift: float = 1.0
    stratified: bool = False  # val/test: the shift's all-or-nothing choices spread evenly over the people
    yaw_range: float = 1.0  # half range of a person's yaw, radians (SyntheticConfig.yaw_range; pi: backs too)
    # augmentation (Sec. 4.2; the authors' values)
    scale_factor: float = 0.25
    rotation_factor: float = 30.0
    flip: bool = True
    # not in the paper: training crops' centres shifted by up to this fraction of the crop side per axis (models
    # for boxes the pose model tracks itself, ttpose.tracking; benchmarks/TRACKING.md)
    translate_factor: float = 0.0
    heatmap_sigma: float | None = None  # target heatmaps' std, heatmap pixels; None: input_size / 64 (2 at 128 px)
    # which box crops the source frame of a (target, source) pair: its own ("own"), or the target's ("target",
    # as in the authors' code: the source is seen through the target's crop window, so camera motion shows)
    source_crop: Literal["own", "target"] = "own"
    num_workers: int = 0


@dataclass
class SpeedConfig:
    """Speed options (ttpose.speed, docs/speed.md); the defaults are the plain float32 computation."""

    # autocast dtype (bf16: CPUs with AMX/AVX512-BF16, GPUs); auto: bf16 where it is fast (GPUs, CPUs with bf16
    # units: ttpose.speed.bf16_units), else fp32 (elsewhere bf16 is emulated, slower than fp32)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    channels_last: bool = False  # NHWC memory layout for parameters and images
    fold_bn: bool = False  # fold eval-mode BatchNorm into the preceding conv (personalization, inference)
    compile: bool = False  # torch.compile the convolutional parts (long warm-up; needs a C++ compiler on CPU)
    # prediction only (ttpose.speed.inference_model): BN folded, encoder compiled with frozen weights; C++ compiler
    compile_frozen: bool = False
    # the pose encoder's first conv on the bottleneck Gaussians' row and column profiles instead of the maps
    # (each map is an outer product): same numbers up to float rounding, ~4x less time on that conv
    separable_gaussians: bool = False


@dataclass
class TrainConfig:
    """Joint training (Sec. 3.1, Eq. 10; schedule of Sec. 4.2)."""

    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0  # the authors' config lists 1e-4 but their Adam does not use it
    steps: int = 383_000
    lr_steps: tuple[int, ...] = (246_000, 328_000)
    lr_factor: float = 0.1
    log_every: int = 50
    val_every: int = 5_000
    checkpoint_every: int = 1_000  # 0: only the final checkpoint
    val_frames: int = 0  # 0: all validation frames
    accumulate: int = 1  # micro-batches per optimizer step (global batch = batch_size)
    speed: SpeedConfig = field(default_factory=SpeedConfig)  # e.g. train.speed.precision=bf16


@dataclass
class TTPConfig:
    """Test-time personalization (Sec. 3.2, 4.2)."""

    mode: Literal["online", "offline", "none"] = "online"
    lr: float = 1e-4
    batch_size: int = 32
    steps_per_frame: int = 1  # Table 2's "update iterations"
    # online: update on every k-th frame only (frames 0, k, 2k, ... since the last reset; 1: the paper's rule), the
    # frames between predicted with the weights as they are; live use (ttpose.live) does not read it. online_targets
    # "recent": an update's targets are the frames since the previous one, not frame t alone (both not in the paper)
    update_every: int = 1
    online_targets: Literal["current", "recent"] = "current"
    offline_steps: int | None = None  # default: as many as online would make (see `offline_updates`)
    reset_every: int | None = None  # None: reset per video only; N: also every N frames
    augment: bool = True  # augment slots 1.. of each online batch (slot 0 is the plain frame)
    weight_decay: float = 0.0
    # a drift control (not in the paper; benchmarks/drift.py): after every update the weights move this fraction of
    # the way back to the trained ones, theta <- theta + pull_back * (theta_trained - theta). 0: off (the paper)
    pull_back: float = 0.0
    # not in the paper (ttpose.confidence_gate): personalized predictions only while the trained model's mean confidence
    # so far is below confidence_gate (0: off), or (relative_gate) below the personalized model's; else the trained's
    confidence_gate: float = 0.0
    relative_gate: bool = False
    source_crop: Literal["own", "target"] = "own"  # the pair rule of `DataConfig.source_crop`, for TTP's pairs
    # Cheaper updates (not in the paper; issue 16): False keeps the reconstruction path (appearance and pose encoders,
    # renderer) as trained; loss_pool=2 computes L_self on the images average-pooled by 2 (VGG-16 costs a quarter)
    update_reconstruction: bool = True
    loss_pool: int = 1
    speed: SpeedConfig = field(default_factory=SpeedConfig)  # e.g. ttp.speed.precision=bf16 ttp.speed.fold_bn=true

    def online_updates(self, frames: int) -> int:
        """Online updates on ``frames`` frames after a reset: ``steps_per_frame`` on every ``update_every``-th."""
        return -(-frames // self.update_every) * self.steps_per_frame

    def offline_updates(self, frames: int) -> int:
        """Offline updates on a video (or reset chunk) of ``frames`` frames: ``offline_steps`` if set, else as many
        as the online rule would make on it."""
        return self.offline_steps if self.offline_steps is not None else self.online_updates(frames)

    def total_updates(self, frames: int, mode: str) -> int:
        """How many updates personalizing ``frames`` frames makes in ``mode`` (online/offline; 0 for none),
        resets (``reset_every``) included."""
        if mode not in ("online", "offline"):
            return 0
        chunk = self.reset_every or max(frames, 1)
        sizes = [min(chunk, frames - first) for first in range(0, frames, chunk)]
        per_chunk = self.offline_updates if mode == "offline" else self.online_updates
        return sum(per_chunk(n) for n in sizes)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ttp: TTPConfig = field(default_factory=TTPConfig)
    seed: int = 0
    output_dir: str = "runs/default"

    @property
    def target_sigma(self) -> float:
        """The std of the target heatmaps (Eq. 9) in heatmap pixels: ``data.heatmap_sigma``, or 2 scaled to the grid."""
        d = self.data.heatmap_sigma
        return d if d is not None else scaled_sigma(self.model.input_size)


# ------------------------------------------------------------------------------------- removed options
# Options removed (issue 15: not in the paper, lost on the validation people), each with its no-op value. Saved
# configs (checkpoints', runs', the demo model's) and benchmark cache keys still hold them: at that value they are
# dropped as they load; any other value is a ConfigError naming the option (its setting no longer exists).
REMOVED = {
    "ttp.anchor": 0.0,  # L2-SP: loss += anchor/2 * ||theta - theta_trained||^2 during personalization
    "ttp.freeze_backbone": False,  # personalize without updating the ResNet backbone
    "ttp.affinity_from": "personalized",  # "trained": predict with the trained model's affinity W (Eq. 7)
    "model.affinity_on": "logits",  # "keypoints": Eq. 8 mixing the bottleneck's Gaussians instead of H_self
}


def drop_removed(values: dict) -> dict:
    """``values`` (a config as a nested dict, or any dict laid out like one, such as a benchmark's cache key)
    without the `REMOVED` options that hold their no-op value; one that holds another value is a ConfigError."""
    values = dict(values)
    for key, noop in REMOVED.items():
        section, name = key.split(".")
        part = values.get(section)
        if not isinstance(part, dict) or name not in part:
            continue
        value = part[name]
        if value != noop or isinstance(value, bool) != isinstance(noop, bool):
            raise ConfigError(f"{key}: this option was removed (it lost on the validation people); only its no-op "
                              f"value {noop!r} is accepted, got {value!r}")
        values[section] = {k: v for k, v in part.items() if k != name}
    return values


def with_added_defaults(saved, current, defaults):
    """``saved`` (settings an earlier ttpose saved, laid out like ``current``: a config section, a run's fingerprint,
    a benchmark's cache key) with each field ``current`` has and ``saved`` lacks filled in where ``current`` holds
    its default (``defaults``, laid out the same way): the value that keeps the behaviour from before the option
    existed, so that ``with_added_defaults(saved, current, defaults) == current`` says both ask for the same
    settings. The counterpart of `drop_removed` for options added since."""
    if not (isinstance(saved, dict) and isinstance(current, dict) and isinstance(defaults, dict)):
        return saved
    out = dict(saved)
    for name, value in current.items():
        if name in out:
            out[name] = with_added_defaults(out[name], value, defaults.get(name))
        elif name in defaults and defaults[name] == value:
            out[name] = value
    return out


# --------------------------------------------------------------------------------------------- parsing


def _check_type(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` where lossless (int -> float, list -> tuple), else raise."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value is None and "none" in typing.get_args(tp):  # YAML reads a bare `none` as null
            return "none"
        if value not in typing.get_args(tp):
            choices = ", ".join(map(str, typing.get_args(tp)))
            raise ConfigError(f"{key}: {value!r} is not one of {choices}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(key, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_check_type(key, v, item) for v in value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected float, got {value!r}") from None
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp in (int, float, str) and (not isinstance(value, tp) or isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def _unknown_key(key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], [v.rsplit(".", 1)[-1] for v in valid], n=1)
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    hint = f"; did you mean {prefix}{close[0]}?" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _apply(obj: Any, values: dict, prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for name, value in values.items():
        key = prefix + str(name)
        if name not in names:
            raise _unknown_key(key, [prefix + n for n in names])
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                fields = ", ".join(f.name for f in dataclasses.fields(current))
                raise ConfigError(f"{key}: expected a mapping of {fields}")
            _apply(current, value, key + ".")
        else:
            setattr(obj, name, _check_type(key, value, hints[name]))


def override_key(item: str) -> str:
    """The dotted key of a ``key=value`` override: "ttp.lr=1e-5" -> "ttp.lr"."""
    return item.split("=", 1)[0].strip()


def refuse_override(overrides: list[str], key: str, instead: str) -> None:
    """A `ConfigError` for an override of ``key`` that an option (``instead``) decides, which would otherwise be
    silently replaced."""
    given = [o for o in overrides if override_key(o) == key]
    if given:
        raise ConfigError(f"override {given[0]!r}: the mode is chosen with {instead}")


def _parse_override(item: str) -> dict:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. model.backbone=resnet18)")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str) and value.lower() in ("none", "null"):
        value = None
    nested: dict = value
    for part in reversed(key.strip().split(".")):
        nested = {part: nested}
    return nested


def config_from_dict(values: dict, overrides: list[str] = ()) -> Config:
    """The config of a nested dict plus dotted overrides, checked (`REMOVED` options at their no-op value are
    dropped)."""
    cfg = Config()
    _apply(cfg, drop_removed(values or {}))
    for item in overrides:
        _apply(cfg, drop_removed(_parse_override(item)))
    validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (or start from the defaults when ``path`` is None) and apply overrides."""
    values = {}
    if path is not None:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        try:
            return config_from_dict(values, overrides)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return config_from_dict(values, overrides)


def validate(cfg: Config) -> None:
    m = cfg.model
    if m.input_size <= 0 or m.input_size % 32:
        raise ConfigError(f"model.input_size: {m.input_size} is not a positive multiple of 32")
    if m.sup_head == "transformer" and m.self_task != "keypoint":
        raise ConfigError("model.sup_head=transformer needs model.self_task=keypoint (Eq. 8 mixes H_self)")
    if m.deconv_channels % m.transformer_heads:
        raise ConfigError("model.deconv_channels must be divisible by model.transformer_heads")
    if len(m.encoder_widths) != 4 or len(m.renderer_widths) != 4:
        raise ConfigError("model.encoder_widths and model.renderer_widths need 4 stages each")
    if cfg.loss.lam < 0 or (cfg.loss.lam_late is not None and cfg.loss.lam_late < 0):
        raise ConfigError(f"loss.lam ({cfg.loss.lam}) and loss.lam_late ({cfg.loss.lam_late}) must be at least 0")
    if not 0 <= cfg.loss.self_to_encoder <= 1:
        raise ConfigError(f"loss.self_to_encoder: {cfg.loss.self_to_encoder} is not in [0, 1]")
    if len(cfg.loss.running_mean_init) != 6:
        raise ConfigError("loss.running_mean_init needs 6 values (pixel + 5 VGG-16 terms)")
    if cfg.ttp.batch_size < 1 or cfg.train.batch_size < 1:
        raise ConfigError("batch sizes must be >= 1")
    if cfg.ttp.update_every < 1 or cfg.ttp.steps_per_frame < 1:
        raise ConfigError("ttp.update_every and ttp.steps_per_frame must be >= 1")
    if cfg.ttp.loss_pool < 1 or m.input_size % cfg.ttp.loss_pool:
        raise ConfigError(f"ttp.loss_pool: {cfg.ttp.loss_pool} does not divide model.input_size {m.input_size}")
    if not 0 <= (t := cfg.ttp).pull_back < 1 or t.confidence_gate < 0 or (t.relative_gate and t.confidence_gate):
        raise ConfigError(f"ttp.pull_back ({t.pull_back}) must be in [0, 1), ttp.confidence_gate "
                          f"({t.confidence_gate}) at least 0, and 0 with ttp.relative_gate")
    if not 0 <= cfg.data.translate_factor < 0.5:
        raise ConfigError(f"data.translate_factor: {cfg.data.translate_factor} is not in [0, 0.5)")
    d = cfg.data
    if d.frames_per_video < 1 or (d.test_frames is not None and d.test_frames < 1):
        raise ConfigError("data.frames_per_video and data.test_frames must be >= 1")
    t = cfg.train
    if t.steps < 1:
        raise ConfigError(f"train.steps: {t.steps} is not a positive number of steps")
    for key, lr in (("train.lr", t.lr), ("ttp.lr", cfg.ttp.lr)):
        if not lr > 0:
            raise ConfigError(f"{key}: {lr} is not a positive learning rate")
    if t.log_every < 1 or t.val_every < 0 or t.checkpoint_every < 0:
        raise ConfigError("train.log_every must be >= 1; train.val_every and train.checkpoint_every >= 0 (0: off; "
                          "the final checkpoint is always written)")


def to_dict(cfg: Any) -> dict:
    """Plain dict (tuples as lists) for YAML/JSON."""
    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(asdict(cfg))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
