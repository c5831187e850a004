"""Joint training: outputs, bit-for-bit resume, and DistributedDataParallel with 2 CPU processes (gloo)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_model_section
from ttpose.checkpoint import load_checkpoint
from ttpose.config import config_from_dict
from ttpose.training import train

REPO = Path(__file__).resolve().parents[1]


def tiny_config(out: Path, **sections) -> "Config":  # noqa: F821
    values = {
        "model": tiny_model_section(),
        "loss": dict(perceptual="pixel", lam=0.1),
        "data": dict(dataset="synthetic", train_videos=2, val_videos=1, test_videos=1, frames_per_video=6,
                     frame_size=64),
        "train": dict(batch_size=4, steps=6, lr_steps=[4], log_every=1, val_every=3, checkpoint_every=2),
        "output_dir": str(out),
    }
    for name, extra in sections.items():
        values.setdefault(name, {}).update(extra) if isinstance(extra, dict) else values.update({name: extra})
    return config_from_dict(values)


def test_train_writes_outputs_and_logs(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    result = train(cfg, progress=False)
    out = tmp_path / "run"
    assert result.step == 6 and result.checkpoint == out / "model.safetensors"
    for name in ("config.yaml", "log.csv", "train_state.safetensors", "model.safetensors", "model.yaml"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "log.csv")))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert len(losses) == 6 and all(v > 0 for v in losses)
    errors = [float(r["recon_mse"]) for r in rows if r["loss"]]  # the plain reconstruction error (issue 13)
    assert len(errors) == 6 and all(v > 0 for v in errors)
    vals = [float(r["val_pck"]) for r in rows if r["val_pck"]]
    assert len(vals) == 2 and all(0 <= v <= 100 for v in vals)
    assert list((out / "tb").iterdir())
    model = load_checkpoint(out / "model.safetensors")
    for k, v in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_checkpoint_every_zero_writes_only_the_final_checkpoint(tmp_path):
    """Bug: train.checkpoint_every=0 divided by zero; 0 now means "only at the end" (as val_every=0 means off)."""
    cfg = tiny_config(tmp_path / "run", train=dict(steps=3, lr_steps=[2], checkpoint_every=0, val_every=0))
    result = train(cfg, progress=False)
    assert result.step == 3 and (tmp_path / "run" / "model.safetensors").is_file()
    # the trained model personalizes with its run's TTP settings, as the file it saved does once loaded
    assert result.model.ttp_config == cfg.ttp


@pytest.mark.parametrize("bad", ["train.checkpoint_every=-1", "train.val_every=-5", "train.log_every=0"])
def test_training_intervals_are_checked(bad):
    from ttpose.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="train."):
        load_config(None, [bad])


@pytest.mark.parametrize("method,stop", [(dict(sup_head="transformer", self_task="keypoint"), 3),
                                         (dict(sup_head="transformer", self_task="keypoint"), 2),
                                         (dict(sup_head="conv", self_task="rotation"), 3)])
def test_resume_continues_bit_for_bit(tmp_path, method, stop):
    """3 steps make one epoch here; stopping at 2 resumes mid-epoch (regression: the Transformer's dropout
    masks shifted there, because a new DataLoader iterator drew its seed from the global RNG)."""
    full = train(tiny_config(tmp_path / "full", model=method), progress=False)
    cfg = tiny_config(tmp_path / "split", model=method)
    first = train(cfg, stop_at=stop, progress=False)
    assert first.step == stop and first.checkpoint is None
    second = train(cfg, resume=True, progress=False)
    assert second.step == 6
    a, b = full.model.state_dict(), second.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_a_different_model(tmp_path):
    train(tiny_config(tmp_path / "r"), stop_at=2, progress=False)
    with pytest.raises(ValueError, match="different model config"):
        train(tiny_config(tmp_path / "r", model=dict(num_maps=7)), resume=True, progress=False)


def test_resume_accepts_a_change_of_the_evaluation_people_only(tmp_path):
    """Regression: a run stopped before the config's test shift changed could not be resumed, though the test
    people's shift never reaches the training people; a change to the training people is still refused."""
    train(tiny_config(tmp_path / "r"), stop_at=2, progress=False)
    resumed = train(tiny_config(tmp_path / "r", data=dict(shift=0.4, stratified=True)), resume=True, progress=False)
    assert resumed.step == 6
    with pytest.raises(ValueError, match="different data config"):
        train(tiny_config(tmp_path / "r", data=dict(frames_per_video=7)), resume=True, progress=False)


DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
from safetensors.torch import save_file
sys.path.insert(0, {tests!r})
from test_training import tiny_config
from ttpose.training import train
from pathlib import Path
cfg = tiny_config(Path({out!r}), model={{**{method!r}, "input_size": 64}},
                  train=dict(batch_size=2, steps=3, val_every=0))
result = train(cfg, progress=False)
rank = dist.get_rank()
save_file({{k: v.contiguous() for k, v in result.model.state_dict().items()}}, {out!r} + f"/rank{{rank}}.safetensors")
"""


@pytest.mark.parametrize("method", [dict(sup_head="conv", self_task="none"),
                                    dict(sup_head="transformer", self_task="keypoint")])
def test_ddp_two_processes_gloo(tmp_path, method):
    out = tmp_path / "ddp"
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(REPO / "tests"), out=str(out), method=method))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script)], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    for k in r0:  # DDP keeps every rank identical: parameters (averaged gradients) and buffers (broadcast)
        assert torch.equal(r0[k], r1[k]), k
    if method["self_task"] == "none":
        # The maths says: 2 ranks x 1 sample == 1 process x 2 micro-batches of 1 sample (BatchNorm statistics
        # are per sample either way, gradients are averaged either way).
        single = train(tiny_config(tmp_path / "single", model={**method, "input_size": 64},
                                   train=dict(batch_size=2, steps=3, val_every=0, accumulate=2)), progress=False)
        for name, p in single.model.named_parameters():
            # equal up to float summation order (Adam's first steps amplify 1e-7 gradient differences);
            # one optimizer step moves weights by ~1e-3, so this still tells a different batch apart
            assert (p.detach() - r0[name]).abs().max().item() < 2e-5, name


def test_lam_late_changes_lambda_from_the_first_lr_drop_only(tmp_path):
    """loss.lam_late (issue 13 probe): the same weights as Eq. 10's constant lambda up to the first of
    train.lr_steps, different after it; lam_late equal to lam is the paper's run bit for bit."""
    def weights(name, stop=None, **loss):
        cfg = tiny_config(tmp_path / name, loss=loss)
        first = train(cfg, stop_at=stop, progress=False)
        return first.model.state_dict(), cfg

    paper_4, paper = weights("paper", stop=4)
    late_4, late = weights("late", stop=4, lam_late=0.0)
    assert all(torch.equal(paper_4[k], late_4[k]) for k in paper_4)
    paper_6 = train(paper, resume=True, progress=False).model.state_dict()
    late_6 = train(late, resume=True, progress=False).model.state_dict()
    assert not all(torch.equal(paper_6[k], late_6[k]) for k in paper_6)
    same_6, _ = weights("same", lam_late=0.1)
    assert all(torch.equal(paper_6[k], same_6[k]) for k in paper_6)
