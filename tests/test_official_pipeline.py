"""The authors' test pipeline (benchmarks/reference/official_pipeline.py) and ttpose's command-line path
(`ttpose convert` -> `ttpose prepare` -> `ttpose evaluate --ttp none`) on the real frames of Penn Action
video 0001, fed the same weights: the same joints (after the authors' 1-pixel origin) and the same PCK.

The weights are random (the authors' Transformer architecture with 13 Penn Action joints, on ResNet-18 and on
the ResNet-50 of their released checkpoints), with BatchNorm statistics measured on the video's own crops so
that the heatmaps are peaked and move with the image; the test checks that they do, or the comparison would
prove nothing. Random ResNet-50 heatmaps have near-ties (top two values 4e-5 apart), so the crops must be the
authors' to the bit: a crop matrix solved from float32 points, around their float64 centres. Even so a few
answers (under 1%) hang on a near-tie of their map and may flip with the summation order of another thread count
or CPU; those alone may differ by more than MAX_PX (`rounding_can_flip`).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from benchmarks.reference import official_pipeline as ref
from benchmarks.reference.official_model import OfficialTTP
from ttpose.cli import main
from ttpose.data.crops import authors_box_rule, crop_matrix
from ttpose.export import read_coco_keypoints

MEAN_PX, MAX_PX, PCK_POINTS = 0.5, 2.0, 0.5  # the agreement asked for (issue 14)
TIE = 1e-4  # of a map's range: a margin this small may be crossed by another float32 summation order
PENN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "penn_action"


def image_dependent_weights(depth: int, root, video: str = "0001", seed: int = 0) -> OfficialTTP:
    """The authors' model with He-initialised convolutions and BatchNorm statistics of every 5th crop."""
    torch.manual_seed(seed)
    model = OfficialTTP(depth)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batch
    labels = ref.read_penn_labels(root / "labels" / f"{video}.mat")
    crops = torch.stack([ref.crop_input(root / "frames" / video / f"{j + 1:06d}.jpg", labels["centers"][j],
                                        labels["scales"][j]) for j in range(0, labels["nframes"], 5)])
    model.pose_net.train()
    with torch.no_grad():
        model.pose_net(crops)
    return model.eval()


@pytest.fixture(scope="module")
def penn_0001(tmp_path_factory):
    real = PENN
    if not (real / "frames" / "0001").is_dir():
        pytest.skip(f"real Penn Action frames {real}/frames/0001 are absent")
    root = tmp_path_factory.mktemp("penn")  # a dataset folder of one video (prepare writes its index here)
    (root / "labels").mkdir()
    (root / "frames").mkdir()
    (root / "labels" / "0001.mat").symlink_to(real / "labels" / "0001.mat")
    (root / "frames" / "0001").symlink_to(real / "frames" / "0001")
    return root


@pytest.fixture(scope="module", params=[18, 50], ids=["resnet18", "resnet50"])
def both(request, penn_0001, tmp_path_factory):
    """(reference results, ttpose joints N x 13 x 2, ttpose metrics.json) for the same weights."""
    model = image_dependent_weights(request.param, penn_0001)
    reference = ref.predict_penn_video(model.pose_net, penn_0001)
    work = tmp_path_factory.mktemp("ttpose")
    torch.save(model.state_dict(), work / "final_state.pth")
    assert main(["convert", str(work / "final_state.pth"), str(work / "converted")]) == 0
    assert main(["prepare", "penn_action", str(penn_0001), "--quiet"]) == 0
    assert main(["evaluate", str(work / "converted.safetensors"), "penn_action", "--root", str(penn_0001),
                 "--ttp", "none", "--out", str(work / "eval"), "--quiet"]) == 0
    joints, _, frames = read_coco_keypoints(work / "eval" / "predictions" / "0001.json")
    assert frames.tolist() == list(range(reference["nframes"]))
    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    return reference, joints, metrics, work


def test_weights_give_peaked_image_dependent_heatmaps(both):
    reference = both[0]
    heatmaps = reference["heatmaps"]  # N x 13 x 32 x 32
    flat = heatmaps.reshape(*heatmaps.shape[:2], -1)
    assert (reference["maxvals"] > 0).all()  # the authors' "maximum <= 0 -> corner" rule never applies here
    distinct = [len(set(flat[:, k].argmax(-1).tolist())) for k in range(flat.shape[1])]
    assert min(distinct) >= 20, distinct  # the argmax moves with the image (151 frames)
    peak = (flat.max(-1) - flat.mean(-1)) / flat.std(-1)
    if os.environ.get("TTPOSE_REPORT"):
        top_two = np.sort(flat, -1)[..., -2:]
        print(f"\nsmallest gap between a map's two highest values: {(top_two[..., 1] - top_two[..., 0]).min():.2g}")
    assert peak.mean() > 2.5  # the maximum stands out of its map


def rounding_can_flip(heatmaps: np.ndarray, tie: float = TIE) -> np.ndarray:
    """N x K: where the authors' answer hangs on a near-tie of its map (the two highest values, or the two
    neighbours whose difference picks the quarter-cell shift, closer than ``tie`` x the map's range), so that
    float32 rounding in another summation order (thread count, batch size, CPU) may move it by a cell or half."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    scale = flat.max(-1) - flat.min(-1)
    top_two = np.sort(flat, -1)[..., -2:]
    near = top_two[..., 1] - top_two[..., 0] < tie * scale
    y, x = np.unravel_index(flat.argmax(-1), (h, w))
    frame, joint = np.indices((n, k))
    for dy, dx, inside in ((0, 1, (x > 0) & (x < w - 1)), (1, 0, (y > 0) & (y < h - 1))):
        after = heatmaps[frame, joint, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)]
        before = heatmaps[frame, joint, np.clip(y - dy, 0, h - 1), np.clip(x - dx, 0, w - 1)]
        near |= inside & (np.abs(after - before) < tie * scale)
    return near


def test_rounding_can_flip_finds_the_near_ties():
    maps = np.tile(np.arange(25, dtype=np.float32).reshape(5, 5) / 100, (1, 3, 1, 1))  # no ties but the ones set
    maps[0, :, 2, 2] = 1.0
    maps[0, 1, 0, 0] = 1.0 - 1e-6  # a second peak as high as the first to float precision
    maps[0, 2, 2, 1], maps[0, 2, 2, 3] = 0.5, 0.5 + 1e-6  # the quarter-cell shift's sign is a coin toss
    assert rounding_can_flip(maps).tolist() == [[False, True, True]]


def test_ttpose_cli_predicts_the_authors_joints(both):
    """Every joint within MAX_PX of the authors' except where their own answer is a float32 coin toss (a near-tie
    in the map; at most 1% of the frame-joints, and the mean still within MEAN_PX over all of them)."""
    reference, joints = both[:2]
    gap = np.linalg.norm(joints - (reference["preds"] - 1), axis=-1)  # their 1-based answer -> 0-based
    mean, worst = gap.mean(0), gap.max(0)  # per joint over the 151 frames
    toss = rounding_can_flip(reference["heatmaps"])
    if os.environ.get("TTPOSE_REPORT"):
        print(f"\nper-joint mean px: {np.round(mean, 3).tolist()}\nper-joint max px: {np.round(worst, 3).tolist()}"
              f"\noverall mean {gap.mean():.4f} px, max {gap.max():.4f} px; near-ties {toss.sum()} of {toss.size}")
    assert toss.mean() <= 0.01, toss.sum()  # the exception stays an exception
    assert mean.max() <= MEAN_PX and gap[~toss].max() <= MAX_PX, (mean, np.argwhere(gap > MAX_PX))


def test_ttpose_pck_is_the_authors_pck(both):
    reference, metrics = both[0], both[2]
    theirs = ref.penn_pck(reference["preds"], reference["joints"], reference["visible"])
    ours = metrics["table"]
    if os.environ.get("TTPOSE_REPORT"):
        print(f"\ntheirs {theirs}\nttpose {ours}")
    assert metrics["settings"]["ttp"] == "none" and metrics["settings"]["ttp_config"]["mode"] == "none"
    assert abs(ours["Mean"] - theirs["mPCK"]) <= PCK_POINTS
    for part, _ in ref.PENN_PARTS:
        assert abs(ours[part] - theirs[part]) <= 2 * PCK_POINTS, part


def test_coco_export_names_the_real_frame_files(both):
    document = json.loads((both[3] / "eval" / "predictions" / "0001.json").read_text())
    names = [image["file_name"] for image in document["images"]]
    assert names[0] == "000001.jpg" and names[-1] == "000151.jpg"  # Penn Action numbers its frames from 1
    assert all((PENN / "frames" / "0001" / name).is_file() for name in names)


def test_evaluate_takes_the_authors_pth_directly(both, penn_0001, capsys):
    work = both[3]
    capsys.readouterr()
    assert main(["evaluate", str(work / "final_state.pth"), "penn_action", "--root", str(penn_0001), "--ttp", "none",
                 "--out", str(work / "eval-pth"), "--quiet"]) == 0
    note = [line for line in capsys.readouterr().err.splitlines() if "converted in memory" in line]
    assert len(note) == 1 and note[0].startswith("note: ")
    direct, _, _ = read_coco_keypoints(work / "eval-pth" / "predictions" / "0001.json")
    assert np.array_equal(direct, both[1])  # the same joints as through `ttpose convert`


finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(box=st.tuples(*[st.floats(0, 1900, **finite)] * 2, *[st.floats(5, 600, **finite)] * 2),
       rot=st.sampled_from([0.0, 12.5, -30.0, 47.3]), size=st.sampled_from([64, 128, 256]))
def test_crop_matrix_is_the_authors_to_the_bit(box, rot, size):
    """Their box rule and get_affine_transform vs ttpose's: the same float64 numbers, bit for bit (a float32
    centre moved crops by 1e-5 px and flipped near-tied ResNet-50 maxima by up to 164 px)."""
    x1, y1, w, h = box
    mat_box = np.array([x1, y1, x1 + w, y1 + h])
    center, side = authors_box_rule(mat_box[None])
    their_center, their_scale = ref.penn_center_scale(mat_box)
    assert np.array_equal(center[0], their_center) and side[0] == their_scale[0] * 200
    assert np.array_equal(crop_matrix(center[0], side[0], size, rot),
                          ref.affine_transform(their_center, their_scale, rot, (size, size)))
