"""The `ttpose` command: a thin layer over the library. Every subcommand calls one library function.

Each subcommand imports the library inside its function (lazy start-up): `ttpose --help` or `ttpose prepare`
does not load video I/O, the demo or the converter (about 0.8 s of a 2.6 s start on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path


def _cmd_train(args: argparse.Namespace) -> int:
    from ttpose.config import load_config
    from ttpose.training import train

    cfg = load_config(args.config, args.overrides)
    out = Path(cfg.output_dir)
    finished = [out / name for name in ("model.safetensors", "model.yaml")]
    if not (args.resume or args.overwrite) and any(p.is_file() for p in (*finished, out / "train_state.safetensors")):
        raise FileExistsError(f"{out} already holds a training run; --resume continues it, --overwrite starts it "
                              "again from step 0, or choose another output_dir=...")
    if args.overwrite and int(os.environ.get("RANK", "0")) == 0:  # no stale model beside an interrupted new run
        for path in finished:
            path.unlink(missing_ok=True)
        shutil.rmtree(out / "tb", ignore_errors=True)  # nor the old run's curves among the new ones
    result = train(cfg, resume=args.resume, progress=not args.quiet)
    where = result.checkpoint or result.output_dir / "train_state.safetensors"
    print(f"trained {result.step} steps; validation PCK {_fmt(result.val_pck)}; weights: {where}")
    return 0


def default_eval_dir(checkpoint: Path, name: str) -> Path:
    """`ttpose evaluate`'s output folder without --out: ``name`` beside the checkpoint, or under ``runs/`` for a
    checkpoint inside the ttpose package (the demo's shipped model): never a folder of the installed package."""
    package, folder = Path(__file__).resolve().parent, Path(checkpoint).resolve().parent
    if folder == package or package in folder.parents:
        return Path("runs") / f"{folder.name}-{name}"
    return Path(checkpoint).parent / name


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ttpose.config import config_from_dict, refuse_override, to_dict
    from ttpose.convert import load_model_file
    from ttpose.data.build import load_videos
    from ttpose.evaluate import evaluate, write_outputs

    saved, model, note = load_model_file(args.checkpoint)
    if note:
        print(f"note: {note}", file=sys.stderr)
    values = to_dict(saved)
    values["data"].update(dataset=args.dataset, root=str(args.root) if args.root else values["data"]["root"])
    if args.split == "val" and args.dataset != "synthetic":  # build.load_videos would give the test split
        raise ValueError(f"{args.dataset} has no validation split in the paper's protocols (its 'val' is its test "
                         "split): use --split test")
    refuse_override(args.overrides, "ttp.mode", "--ttp none|online|offline")
    cfg = config_from_dict(values, args.overrides)
    cfg.ttp.mode = args.ttp  # metrics.json records the mode that ran
    model.loss_config = cfg.loss  # the L_self of --ttp online/offline, with any loss.* override (e.g. vgg_weights)
    videos = load_videos(cfg.data, args.split, skeleton=cfg.model.skeleton)
    if args.videos:
        videos = videos[: args.videos]
    evaluation, preds = evaluate(model, videos, args.ttp, cfg.ttp, seed=cfg.seed, progress=not args.quiet,
                                 workers=args.workers)
    print(f"{cfg.data.dataset} {args.split}, TTP {args.ttp}: " + evaluation.format())
    out = args.out or default_eval_dir(args.checkpoint, f"eval-{cfg.data.dataset}-{args.split}-{args.ttp}")
    settings = {"checkpoint": str(args.checkpoint), "dataset": cfg.data.dataset, "split": args.split, "ttp": args.ttp,
                "ttp_config": to_dict(cfg.ttp), "videos": len(videos)}
    write_outputs(out, evaluation, videos, preds, model.skeleton, settings)
    print(f"predictions and metrics: {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ttpose.demo import run_demo

    # a quick run, a training run and a run of the shipped model never share a folder
    out = args.out or Path("runs/demo-quick" if args.quick else "runs/demo-train" if args.train else "runs/demo")
    run_demo(out, args.overrides, quick=args.quick, progress=not args.quiet, train=args.train, workers=args.workers)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from ttpose.checkpoint import save_checkpoint
    from ttpose.config import Config
    from ttpose.convert import from_official

    model = from_official(args.official, input_size=args.input_size)
    cfg = Config(model=model.config)
    path = save_checkpoint(args.out, model, cfg)
    print(f"converted {args.official} ({cfg.model.backbone}, {cfg.model.sup_head} head, "
          f"{model.skeleton.num_joints} joints) -> {path}")
    return 0


def _cmd_personalize(args: argparse.Namespace) -> int:
    from ttpose.data.video import input_kind
    from ttpose.video_personalize import PersonalizeOptions, personalize_many, personalize_video

    options = PersonalizeOptions(mode=args.mode, boxes=args.boxes, box=args.box, smooth=args.smooth,
                                 resume=args.resume, progress=not args.quiet, schedule=args.schedule,
                                 overrides=args.overrides, seed=args.seed,
                                 box_smooth=args.box_smooth, save_every=args.save_every)
    if args.whole_frame:
        options = replace(options, tracking=None)  # no box given: the whole frame instead of the model's own track
    if args.moving_camera:
        options = replace(options, background=None)  # the tracker without the still-scene cue
    try:
        if input_kind(args.source) == "videos":
            many = personalize_many(args.source, args.checkpoint, args.out, options)
            for r in many.done:
                print(f"{r.source.name}: {len(r.frame_ids)} frames -> {r.out_dir}")
            before = f", {len(many.finished_before)} done before" if many.finished_before else ""
            print(f"rank {many.rank} of {many.world_size}: {len(many.done)} of {len(many.videos)} videos done"
                  f"{before}, {len(many.failed)} failed")
            return 2 if many.failed else 0
        r = personalize_video(args.source, args.checkpoint, args.out, options)
    except KeyboardInterrupt:
        print("ttpose: interrupted; no output file is half-written; run again with --resume to continue",
              file=sys.stderr)
        return 130
    fps = r.summary.get("frames_per_second")
    print(f"{r.source.name}: {len(r.frame_ids)} frames ({len(r.skipped)} skipped), {r.mode} personalization"
          f"{f', {fps:.1f} frames/s' if fps else ''}; outputs in {r.out_dir}")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from ttpose.data.build import prepare

    path, records = prepare(args.dataset, args.root, progress=not args.quiet)
    frames = sum(len(r.frames) for r in records)
    splits = ", ".join(f"{s} {sum(r.split == s for r in records)}" for s in ("train", "test"))
    print(f"{args.dataset}: indexed {len(records)} videos ({splits}), {frames} frames -> {path}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def build_parser() -> argparse.ArgumentParser:
    from ttpose import __version__

    parser = argparse.ArgumentParser(
        prog="ttpose",
        description="Test-time personalization of a 2D human pose estimator (Li et al., NeurIPS 2021).",
        epilog="Errors are one line; set TTPOSE_DEBUG=1 for a traceback.",
    )
    parser.add_argument("--version", action="version", version=f"ttpose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="synthetic people: personalize online/offline, report (minutes, CPU)",
                       description="The whole method on synthetic people in a few minutes on a CPU: takes the tiny "
                                   "Transformer model shipped with ttpose (or trains it with --train), personalizes "
                                   "it to unseen test people online and offline, prints PCK without and with "
                                   "personalization and writes pictures. A finished training run in OUT is reused.")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. ttp.lr=3e-5")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default runs/demo; runs/demo-train with --train, runs/demo-quick with --quick)")
    p.add_argument("--train", action="store_true",
                   help="train the model from scratch first (what made the shipped one) instead of loading it")
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds: checks the plumbing only")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="people personalized at once, each in a process with its share of the torch threads "
                        "(default: one per torch thread)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="joint training (Eq. 10) from a YAML config",
                       description="Joint training of a config's model on its dataset. Overrides are dotted "
                                   "key=value pairs, e.g. model.backbone=resnet18 train.steps=1000. Under torchrun "
                                   "it trains with DistributedDataParallel.")
    p.add_argument("config", type=Path, help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/train_state.safetensors")
    again.add_argument("--overwrite", action="store_true",
                       help="start again from step 0 in an OUTPUT_DIR that already holds a run (default: refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="mean PCK / accuracy per part, without or with TTP (Table 1)",
                       description="Evaluate a checkpoint on a dataset split, personalizing per video when --ttp "
                                   "is online or offline. Prints the paper's table and writes predictions "
                                   "(COCO-style keypoint JSON per video) and metrics.json.")
    p.add_argument("checkpoint", type=Path, help="a ttpose .safetensors checkpoint or the authors' .pth")
    p.add_argument("dataset", choices=["synthetic", "penn_action", "h36m", "bbc_pose"])
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides (e.g. ttp.lr=1e-5)")
    p.add_argument("--ttp", choices=["none", "online", "offline"], default="none")
    p.add_argument("--root", type=Path, help="dataset folder (real datasets)")
    p.add_argument("--split", choices=["val", "test"], default="test")
    p.add_argument("--videos", type=_positive_int, help="only the first N videos")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="with --ttp online/offline: videos personalized at once, each in a process with its share "
                        "of the torch threads and its own copy of the model and its update's memory (default 1; "
                        "on a CPU, one per core is fastest when memory allows)")
    p.add_argument("--out", type=Path, help="output folder (default: beside the checkpoint; under runs/ for the "
                                            "model shipped with ttpose)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("convert", help="convert the authors' .pth checkpoint to a ttpose checkpoint",
                       description="Read the authors' released state dict (weights_only) and write "
                                   "OUT.safetensors + OUT.yaml.")
    p.add_argument("official", type=Path, help="the authors' .pth file")
    p.add_argument("out", type=Path, help="output path (without or with .safetensors)")
    p.add_argument("--input-size", type=int, default=128)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("personalize", help="personalize a checkpoint to the person in your video (Sec. 3.2)",
                       description="Test-time personalization on a video file, a folder of one person's images, "
                                   "or a folder of videos (one run each; under torchrun each rank takes its "
                                   "share). Writes COCO keypoint JSON, CSV, an overlay video and summary.json for "
                                   "the generic and the personalized model. See docs/personalize-your-video.md.")
    p.add_argument("source", type=Path, help="video file, folder of images, or folder of videos")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="TTP settings, e.g. ttp.lr=1e-5")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="a ttpose .safetensors checkpoint or the authors' .pth")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--mode", choices=["online", "offline"], default="online")
    p.add_argument("--schedule", choices=["paper", "fast"], default="paper",
                   help="online updates: on every frame with the checkpoint's settings (paper), or on every 4th "
                        "frame with the speed options (fast: the paper's update of 16 pairs with the relative gate, "
                        "or without it, if it keeps 2 frames/s here, else the cheaper update of 16, 8 or 4 pairs, "
                        "timed before the first frame; part of the gain given up, more with the cheaper update; "
                        "docs/personalize-your-video.md)")
    p.add_argument("--boxes", type=Path, help="person boxes: COCO JSON, JSON list or CSV (a folder of them, "
                                              "named after the videos, for a folder of videos)")
    p.add_argument("--box", metavar="X1,Y1,X2,Y2", help="one fixed person box for every frame")
    p.add_argument("--whole-frame", action="store_true",
                   help="without --boxes/--box: use the whole frame instead of tracking the person with the model")
    p.add_argument("--moving-camera", action="store_true",
                   help="track the person with the model alone, without the still-scene cue (its empty scene is "
                        "the median of frames sampled over the video, which a moving camera blurs)")
    p.add_argument("--smooth", type=int, metavar="WINDOW",
                   help="Savitzky-Golay smoothing window (odd, >= 5 frames; quadratic)")
    p.add_argument("--box-smooth", type=int, default=None, metavar="WINDOW",
                   help="moving-average window for the boxes (1: off; default 9, and off for boxes tracked online)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT")
    p.add_argument("--save-every", type=int, default=256, metavar="N", help="save resume state every N frames")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_personalize)

    p = sub.add_parser("prepare", help="index a real dataset's annotations once (Penn Action, Human3.6M, BBC Pose)",
                       description="Validate the dataset folder and write ROOT/ttpose-index-DATASET.npz, which the "
                                   "loaders reuse while the annotation files are unchanged. See docs/datasets.md.")
    p.add_argument("dataset", choices=["penn_action", "h36m", "bbc_pose"])
    p.add_argument("root", type=Path, help="the dataset folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_prepare)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, except that KEY=VALUE overrides may also come after options
    (``ttpose train CONFIG --resume train.steps=10``)."""
    args, extra = parser.parse_known_args(argv)
    takes_overrides = isinstance(getattr(args, "overrides", None), list)
    wrong = [a for a in extra if not takes_overrides or "=" not in a or a.startswith("-")]
    if wrong:
        parser.error(f"unrecognized arguments: {' '.join(wrong)}")
    if extra:
        args.overrides = args.overrides + extra
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("ttpose: interrupted; finished outputs are complete, unfinished ones were not written", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # ConfigError, CheckpointError, DatasetError, VideoError, ... are ValueErrors
        if os.environ.get("TTPOSE_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"ttpose: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
