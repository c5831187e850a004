"""The benchmarks' cache of trained runs (benchmarks.common.trained): reused only for the same recipe."""

import json

import numpy as np
import pytest
import yaml

from benchmarks.common import cell_key, trained
from conftest import tiny_model_section
from ttpose.config import config_from_dict
from ttpose.training import NOT_TRAINING, training_settings

TINY = {
    "model": tiny_model_section(),
    "loss": dict(perceptual="pixel", lam=0.1),
    "data": dict(dataset="synthetic", train_videos=2, val_videos=1, test_videos=1, frames_per_video=6, frame_size=64),
    "train": dict(batch_size=4, steps=2, lr_steps=[1], log_every=1, val_every=0, checkpoint_every=0),
}


def test_a_finished_run_is_reused_only_for_the_same_training(tmp_path):
    """Bug: a changed recipe (train.steps 1000 -> 3000) silently reused the old run's model."""
    out = f"output_dir={tmp_path / 'run'}"
    model, _ = trained(config_from_dict(TINY, [out]))
    again, _ = trained(config_from_dict(TINY, [out, "train.log_every=5", "data.shift=0.2", "data.stratified=true",
                                               "ttp.lr=1e-3"]))
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    with pytest.raises(RuntimeError, match="other settings"):
        trained(config_from_dict(TINY, [out, "train.steps=3"]))
    assert (training_settings(config_from_dict(TINY, ["train.steps=3"]), NOT_TRAINING)
            != training_settings(config_from_dict(TINY), NOT_TRAINING))


def test_the_loss_settings_train_a_model_without_self_supervision_nothing():
    """A supervised-only baseline trained before an L_self setting changed is the same model after (a Table 1
    variant of lambda or loss.self_to_encoder reuses it); a model with L_self is not."""
    changed = ["loss.lam=3e-4", "loss.self_to_encoder=0.3"]
    baseline = ["model.sup_head=conv", "model.self_task=none"]
    assert (training_settings(config_from_dict(TINY, baseline + changed))
            == training_settings(config_from_dict(TINY, baseline)))
    assert training_settings(config_from_dict(TINY, changed)) != training_settings(config_from_dict(TINY))


def test_tuned_gains_reads_the_val_sections_tune_ttp_wrote(tmp_path):
    from benchmarks.common import tuned_gains, write_section

    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n")
    table = ["| Setting | TTP | PCK | gain | L_self fell | MSE fell | time (s) |", "|---|---|---|---|---|---|---|",
             "| none | - | 65.80 | +0.00 |  |  | 0 |",
             "| lr 3e-5, speed options | online | 67.25 | +1.45 | 1 % | 2 % | 9 |",
             "| lr 3e-5, speed options | offline | 67.17 | +1.37 | 1 % | 2 % | 9 |"]
    write_section("tune_a", "\n".join(["## a", "", *table, "", "Best online setting on val: x"]), path=results)
    found = tuned_gains(["tune_a", "absent"], path=results)
    assert found["sections"] == ["tune_a"]
    assert found["no_ttp"] == {"tune_a": 65.8}
    assert found["lr 3e-5, speed options"] == {"online": 1.45, "offline": 1.37}
    # bug: the same setting in two sections (another seed's checkpoint) silently replaced the first gain
    write_section("tune_b", "\n".join(["## b", "", *table]), path=results)
    with pytest.raises(ValueError, match="in sections tune_a and tune_b"):
        tuned_gains(["tune_a", "tune_b"], path=results)


def test_a_run_saved_with_removed_options_at_their_no_op_values_is_reused(tmp_path):
    """Issue 15: runs' config.yaml hold ttp.anchor / freeze_backbone / affinity_from, removed since."""
    out = f"output_dir={tmp_path / 'run'}"
    model, _ = trained(config_from_dict(TINY, [out]))
    saved = tmp_path / "run" / "config.yaml"
    values = yaml.safe_load(saved.read_text())
    values["ttp"].update(anchor=0.0, freeze_backbone=False, affinity_from="personalized")
    values["model"]["affinity_on"] = "logits"
    saved.write_text(yaml.safe_dump(values, sort_keys=False))
    again, _ = trained(config_from_dict(TINY, [out]))
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_a_cached_cell_saved_with_removed_options_at_their_no_op_values_is_reused(tmp_path):
    """benchmarks/table1_synthetic.py keys a cell by the TTP and data settings; keys saved before issue 15 hold
    the removed options."""
    from benchmarks.table1_synthetic import _cell, saved_cell

    cfg = config_from_dict(TINY, [f"output_dir={tmp_path}"])
    name, key = _cell(cfg, "online")
    assert "anchor" not in key["ttp"]
    for anchor, reused in ((0.0, True), (100.0, False)):
        old = json.loads(json.dumps(key))
        old["ttp"].update(anchor=anchor, freeze_backbone=False, affinity_from="personalized")
        (tmp_path / f"test-eval-{name}.json").write_text(json.dumps({"key": old, "pck": 50.0, "seconds": 1.0}))
        assert (saved_cell(cfg, "online") is not None) == reused
    old["ttp"].update(anchor=0.0, lr=cfg.ttp.lr * 2)  # another setting that still exists: recomputed
    (tmp_path / f"test-eval-{name}.json").write_text(json.dumps({"key": old, "pck": 50.0, "seconds": 1.0}))
    assert saved_cell(cfg, "online") is None


def test_a_cached_cell_saved_before_an_option_was_added_is_reused_only_at_its_default(tmp_path):
    """Cells computed before data.test_frames / data.translate_factor / ttp.pull_back existed lack them; the
    default keeps the old behaviour, so such a cell is the same cell, and a cell asked with another value is not."""
    from benchmarks.table1_synthetic import _cell, saved_cell

    for extra, reused in (([], True), (["ttp.pull_back=0.1"], False), (["data.test_frames=3"], False)):
        cfg = config_from_dict(TINY, [f"output_dir={tmp_path}", *extra])
        name, key = _cell(cfg, "online")
        old = json.loads(json.dumps(key))
        del old["ttp"]["pull_back"], old["data"]["test_frames"], old["data"]["translate_factor"]
        (tmp_path / f"test-eval-{name}.json").write_text(json.dumps({"key": old, "pck": 50.0, "seconds": 1.0}))
        assert (saved_cell(cfg, "online") is not None) == reused, extra


def test_a_cell_computed_with_auto_precision_is_not_reused_where_auto_means_another_precision(tmp_path, monkeypatch):
    """Bug: the cell key held ttp.speed.precision=auto, so a cell personalized in bf16 on a CPU with bf16 units
    was reused as the fp32 result on a CPU without them."""
    import ttpose.speed
    from benchmarks.table1_synthetic import _cell, saved_cell

    cfg = config_from_dict(TINY, [f"output_dir={tmp_path}", "ttp.speed.precision=auto"])
    monkeypatch.setattr(ttpose.speed, "_this_cpu_has_bf16_units", lambda: True)
    name, key = _cell(cfg, "online")
    assert key["ttp"]["speed"]["precision"] == "bf16"
    (tmp_path / f"test-eval-{name}.json").write_text(json.dumps({"key": key, "pck": 50.0, "seconds": 1.0}))
    assert saved_cell(cfg, "online") is not None
    monkeypatch.setattr(ttpose.speed, "_this_cpu_has_bf16_units", lambda: False)
    assert _cell(cfg, "online")[1]["ttp"]["speed"]["precision"] == "fp32"
    assert saved_cell(cfg, "online") is None


def test_a_drift_cell_is_reused_only_for_the_settings_it_was_computed_with(tmp_path):
    """Bug: benchmarks/drift.py cached a cell by split, size, control and video only, so cells computed before
    the config's test shift changed (0.5 -> 0.35 -> 0.375 stratified) or with another checkpoint were reused."""
    from benchmarks.common import cached  # drift.py reads its npz cells with it

    cfg = config_from_dict(TINY, [f"output_dir={tmp_path}"])
    key = cell_key(cfg, "online", video=0, checkpoint="ab12")
    path = tmp_path / "video0.npz"
    np.savez(path, hits=np.ones(3, bool), key=np.array(json.dumps(key)))
    assert cached(path, key)["hits"].all() and "key" not in cached(path, key)
    shifted = cell_key(config_from_dict(TINY, [f"output_dir={tmp_path}", "data.shift=0.375"]), "online", video=0,
                       checkpoint="ab12")
    assert cached(path, shifted) is None
    assert cached(path, {**key, "checkpoint": "cd34"}) is None
    np.savez(path, hits=np.ones(3, bool))  # cached before the key was stored
    assert cached(path, key) is None
    assert cached(tmp_path / "missing.npz", key) is None


def test_a_no_ttp_cell_survives_a_change_of_the_ttp_learning_rate_only(tmp_path):
    """Noticed: the no-TTP cells were keyed by every TTP setting, so choosing a new TTP lr recomputed them. Only
    the speed options reach a prediction without TTP; a change of them (or of the data) still makes the cell
    stale, and a TTP cell still depends on the lr."""
    from benchmarks.table1_synthetic import _cell, saved_cell

    cfg = config_from_dict(TINY, [f"output_dir={tmp_path}"])
    for mode in ("none", "online"):
        name, key = _cell(cfg, mode)
        (tmp_path / f"test-eval-{name}.json").write_text(json.dumps({"key": key, "pck": 50.0, "seconds": 1.0}))
    new_lr = config_from_dict(TINY, [f"output_dir={tmp_path}", "ttp.lr=3e-6", "ttp.pull_back=0.5"])
    assert saved_cell(new_lr, "none") is not None
    assert saved_cell(new_lr, "online") is None
    assert saved_cell(config_from_dict(TINY, [f"output_dir={tmp_path}", "ttp.speed.channels_last=true"]),
                      "none") is None
    assert saved_cell(config_from_dict(TINY, [f"output_dir={tmp_path}", "data.shift=0.2"]), "none") is None


def test_the_papers_protocol_stays_the_papers_when_the_config_chooses_a_drift_control():
    """Bug: once configs/synthetic/cpu.yaml set ttp.pull_back (chosen on val), tune_ttp's "lr 1e-4 (paper)" and
    drift.py's "plain" inherited it and no longer measured the paper's protocol."""
    from benchmarks.drift import CONFIG, CONTROLS
    from benchmarks.tune_ttp import candidate_overrides
    from ttpose.config import load_config

    assert load_config(CONFIG).ttp.pull_back > 0  # the situation the bug needs
    paper = load_config(CONFIG, candidate_overrides("lr 1e-4 (paper)")).ttp
    assert (paper.lr, paper.pull_back) == (1e-4, 0)
    assert load_config(CONFIG, candidate_overrides("lr 1e-4, pull back 3e-2")).ttp.pull_back == 0.03
    assert load_config(CONFIG, CONTROLS["plain"]).ttp.pull_back == 0
    assert load_config(CONFIG, CONTROLS["pull 1e-2"]).ttp.pull_back == 0.01


def test_drift_reports_the_cells_its_workers_computed(tmp_path):
    """Bug: the task tuples gained the checkpoint and its digest, but the report still looked cells up by
    (split, control, video, segments, frames): every run ended in a KeyError after all cells were computed."""
    from argparse import Namespace

    from benchmarks.common import run_cells
    from benchmarks.drift import by_video, report, tasks

    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    args = Namespace(split="val", controls=["plain"], videos=2, segments=8, segment_frames=250, window=250,
                     checkpoint=checkpoint, processes=1)

    def fake_cell(split, control, index, segments, frames, checkpoint, digest):
        hits = np.zeros(segments * frames, bool)
        hits[: 1100 if control == "plain" else 1000] = True  # plain gets frames 1000-1099 right too
        return {"hits": hits, "valid": np.ones_like(hits), "seconds": np.float64(1), "updates": np.int64(1)}

    text, _ = report(args, by_video(run_cells(fake_cell, tasks(args, "ab12"), 1)), args.controls, 0.0)
    assert "| plain | " + "+0.00 | " * 4 + "+40.00 | " + "+0.00 | " * 3 + "+0.00 | +10.00 | met |" in text


def test_a_throughput_cell_is_reused_only_for_the_model_and_settings_it_was_computed_with(tmp_path, monkeypatch):
    """Bug: benchmarks/throughput.py cached a cell by split, seed and schedule only, and read the models from
    runs/table1 whatever the Table 1 run in use: after the config's TTP lr and drift control changed, or with
    other Table 1 models, it reported the old cells as the new ones."""
    import benchmarks.throughput as throughput

    monkeypatch.setattr(throughput, "CACHE", tmp_path)
    key = throughput.schedule_key("every 2", "ab12")
    assert key["ttp"]["update_every"] == 2 and key["checkpoint"] == "ab12"
    path = throughput.cell_path("val", 0, "every 2")
    path.write_text(json.dumps({"pck": 50.0, "seconds": 1.0, "key": key}))
    assert throughput.cached_cell("val", 0, "every 2", "m.safetensors", "ab12")["pck"] == 50.0
    with pytest.raises(SystemExit, match="no up-to-date cell val seed 0 'every 2'"):
        throughput.cached_cell("val", 0, "every 2", "m.safetensors", "cd34")  # another checkpoint
    stale = {**key, "ttp": {**key["ttp"], "pull_back": 0.5}}  # other TTP settings
    path.write_text(json.dumps({"pck": 50.0, "seconds": 1.0, "key": stale}))
    assert throughput.cached(path, key) is None
    path.write_text(json.dumps({"pck": 50.0, "seconds": 1.0}))  # cached before the key was stored
    assert throughput.cached(path, key) is None
    model = throughput.table1_model("runs/table1fast", 2)
    assert model.as_posix() == "runs/table1fast/transformer-seed2/model.safetensors"
