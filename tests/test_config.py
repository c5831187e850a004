
import pytest
import yaml

from ttpose.config import Config, ConfigError, config_from_dict, dump_yaml, load_config


def test_defaults_are_the_papers_configuration():
    cfg = Config()
    assert cfg.model.backbone == "resnet50" and cfg.model.input_size == 128 and cfg.model.num_maps == 30
    assert cfg.model.sup_head == "transformer" and cfg.model.transformer_heads == 4
    assert cfg.model.transformer_ff == 1024 and cfg.loss.lam == 1e-3
    assert cfg.train.batch_size == 32 and cfg.train.lr == 1e-3 and cfg.ttp.lr == 1e-4


def test_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  backbone: resnet18\n  input_size: 64\ntrain:\n  lr_steps: [10, 20]\n")
    cfg = load_config(path, ["model.backbone=resnet34", "loss.lam=1e-5", "ttp.offline_steps=none", "seed=3"])
    assert cfg.model.backbone == "resnet34" and cfg.model.input_size == 64
    assert cfg.train.lr_steps == (10, 20) and cfg.loss.lam == 1e-5 and cfg.ttp.offline_steps is None
    assert cfg.seed == 3
    # round trip through YAML
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(cfg))
    assert load_config(again) == cfg


def test_unknown_key_names_nearest_valid():
    with pytest.raises(ConfigError, match=r"model\.backbon.*did you mean model\.backbone"):
        load_config(None, ["model.backbon=resnet18"])
    with pytest.raises(ConfigError, match="did you mean trian|unknown config key 'trian"):
        load_config(None, ["trian.steps=3"])


def test_bad_values_are_errors():
    with pytest.raises(ConfigError, match="model.backbone"):
        load_config(None, ["model.backbone=resnet19"])
    with pytest.raises(ConfigError, match="train.steps: expected int"):
        load_config(None, ["train.steps=many"])
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_config(None, ["model.input_size=100"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["model.backbone"])
    with pytest.raises(ConfigError, match="transformer needs"):
        load_config(None, ["model.self_task=rotation"])
    with pytest.raises(ConfigError, match=r"loss.self_to_encoder: 1.5 is not in \[0, 1\]"):
        load_config(None, ["loss.self_to_encoder=1.5"])
    with pytest.raises(ConfigError, match=r"loss.lam \(0.001\) and loss.lam_late \(-0.1\) must be at least 0"):
        load_config(None, ["loss.lam_late=-0.1"])
    # bug: train.steps=-3 trained "0 steps" and wrote an untrained model with exit 0
    for bad, message in (("train.steps=-3", "train.steps: -3 is not a positive number of steps"),
                         ("train.steps=0", "train.steps: 0 is not"), ("train.lr=0", "train.lr: 0.0 is not a positive"),
                         ("ttp.lr=-1e-4", "ttp.lr: -0.0001 is not a positive learning rate")):
        with pytest.raises(ConfigError, match=message):
            load_config(None, [bad])


def test_yaml_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)


def test_bare_none_for_a_choice_named_none():
    # YAML (and so a dotted override) reads `none` as null; the choice "none" must still be reachable
    cfg = load_config(None, ["model.sup_head=conv", "model.self_task=none", "ttp.mode=none"])
    assert cfg.model.self_task == "none" and cfg.ttp.mode == "none"
    with pytest.raises(ConfigError):
        load_config(None, ["model.sup_head=none"])  # not a valid choice there


def test_test_frames_sets_the_clip_length_of_val_and_test_people_only():
    from ttpose.data.build import load_videos

    cfg = load_config(None, ["data.dataset=synthetic", "data.train_videos=1", "data.test_videos=1",
                             "data.val_videos=1", "data.frame_size=64", "data.frames_per_video=6",
                             "data.test_frames=3"])
    assert len(load_videos(cfg.data, "train")[0]) == 6
    assert len(load_videos(cfg.data, "test")[0]) == 3
    assert len(load_videos(cfg.data, "val")[0]) == 3
    with pytest.raises(ConfigError, match="test_frames"):
        load_config(None, ["data.test_frames=0"])


def test_removed_options_load_at_their_no_op_value_and_are_refused_otherwise(tmp_path):
    """Issue 15: ttp.anchor, ttp.freeze_backbone, ttp.affinity_from and model.affinity_on were removed; saved configs
    still hold them."""
    from ttpose.config import REMOVED, to_dict

    saved = to_dict(load_config(None, ["ttp.lr=3e-5"]))  # a config.yaml saved before issue 15 held all four
    saved["ttp"].update(anchor=0.0, freeze_backbone=False, affinity_from="personalized")
    saved["model"]["affinity_on"] = "logits"
    assert {f"{part}.{k}" for part in ("ttp", "model") for k in saved[part]} >= set(REMOVED)
    shipped = tmp_path / "saved.yaml"
    shipped.write_text(yaml.safe_dump(saved))
    assert load_config(shipped) == load_config(None, ["ttp.lr=3e-5"])
    old = tmp_path / "old.yaml"
    old.write_text("ttp:\n  anchor: 0\n  freeze_backbone: false\n  affinity_from: personalized\n  lr: 3.0e-5\n")
    assert load_config(old) == load_config(None, ["ttp.lr=3e-5"])
    assert load_config(None, ["ttp.anchor=0.0", "ttp.freeze_backbone=false"]) == Config()
    assert load_config(None, ["model.affinity_on=logits"]) == Config()
    for key, value in (("ttp.anchor", "100"), ("ttp.freeze_backbone", "true"), ("ttp.affinity_from", "trained"),
                       ("model.affinity_on", "keypoints")):
        with pytest.raises(ConfigError, match=rf"{key}: this option was removed"):
            load_config(None, [f"{key}={value}"])
    old.write_text("ttp:\n  anchor: 1.0e+2\n")
    with pytest.raises(ConfigError, match=r"old\.yaml: ttp\.anchor: this option was removed.*got 100"):
        load_config(old)
    with pytest.raises(ConfigError, match="freeze_backbone"):  # false, not 0: a bool option keeps its type
        load_config(None, ["ttp.freeze_backbone=0"])
    with pytest.raises(ConfigError, match="did you mean ttp.pull_back"):  # gone from the valid keys
        load_config(None, ["ttp.pull_bakc=0"])


def test_a_saved_run_config_with_removed_options_trains_the_same():
    """The benchmarks' run cache compares `training_settings` of the saved config.yaml with the asked one."""
    from ttpose.config import to_dict
    from ttpose.training import training_settings

    cfg = load_config(None, ["ttp.lr=3e-5", "train.steps=3000"])
    values = to_dict(cfg)
    values["ttp"].update(anchor=0.0, freeze_backbone=False, affinity_from="personalized")
    assert training_settings(config_from_dict(values)) == training_settings(cfg)
