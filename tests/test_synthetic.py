"""Synthetic people (ttpose.data.synthetic): determinism, labels, left/right, populations and shift."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from ttpose.data.synthetic import (
    CHANNELS,
    LSHO,
    MOTIONS,
    NOVEL_HUE_START,
    NOVEL_TEXTURES,
    RSHO,
    TRAIN_HUE_CENTER,
    TRAIN_HUE_HALF,
    TRAIN_TEXTURES,
    Body,
    SyntheticConfig,
    forward_kinematics,
    make_long_video,
    make_population,
    make_video,
    materialize,
    person_parameters,
    sample_appearance,
    video_shift,
)
from ttpose.data.synthetic.motion import FAMILIES
from ttpose.data.synthetic.parts import COVERINGS, PARTS, Clothing, part_specs
from ttpose.skeletons import PENN_ACTION

SMALL = SyntheticConfig(frame_size=64, frames_per_video=8)


def hue_distance(hue: float) -> float:
    """Circular distance in degrees from the training hue centre."""
    d = abs(hue - TRAIN_HUE_CENTER) % 360.0
    return min(d, 360.0 - d)


def garment_hues(look) -> list[float]:
    return [look.shirt.hue, look.sleeves.hue, look.trousers.hue]


def test_same_arguments_give_identical_frames_and_labels():
    a, b = make_video("test", 3, seed=5, config=SMALL), make_video("test", 3, seed=5, config=SMALL)
    for name in ("joints", "visible", "boxes", "centers", "sizes"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # pixels do not depend on the order frames are read in
    late_first = [b.images[i] for i in (7, 0, 4)]
    for img, i in zip(late_first, (7, 0, 4), strict=True):
        np.testing.assert_array_equal(a.images[i], img)


def test_different_index_seed_or_split_gives_a_different_video():
    base = make_video("train", 0, seed=0, config=SMALL)
    for split, index, seed in (("train", 1, 0), ("train", 0, 1), ("val", 0, 0)):
        other = make_video(split, index, seed, SMALL)
        assert not np.array_equal(base.joints, other.joints)
        assert not np.array_equal(base.images[0], other.images[0])


@pytest.mark.parametrize("size", [64, 128, 256])
def test_shapes_dtypes_and_ids(size):
    cfg = SyntheticConfig(frame_size=size, frames_per_video=5)
    v = make_video("val", 7, config=cfg)
    assert (v.video_id, v.person_id, v.skeleton) == ("val-0007", "val-person-0007", PENN_ACTION)
    assert len(v) == 5
    assert v.joints.shape == (5, 13, 2) and v.joints.dtype == np.float32
    assert v.visible.shape == (5, 13) and v.visible.dtype == bool
    assert v.boxes.dtype == np.float32 and v.centers.dtype == np.float32 and v.sizes.dtype == np.float32
    img = v.images[2]
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert img.std() > 5  # not a blank frame
    frame = v[2]
    np.testing.assert_array_equal(frame.image, img)
    assert frame.video_id == "val-0007" and frame.frame_id == 2


def test_materialize_matches_lazy_frames_and_survives_pickling():
    v = make_video("train", 2, config=SMALL)
    m = materialize(v)
    assert isinstance(m.images, np.ndarray) and m.images.shape == (8, 64, 64, 3)
    np.testing.assert_array_equal(m.images[6], v.images[6])
    clone = pickle.loads(pickle.dumps(v.images))
    np.testing.assert_array_equal(clone[3], v.images[3])
    with pytest.raises(IndexError):
        v.images[8]


@settings(deadline=None, max_examples=25)
@given(
    split=st.sampled_from(["train", "val", "test"]),
    index=st.integers(0, 10_000),
    seed=st.integers(0, 1_000),
    size=st.sampled_from([64, 96, 128]),
)
def test_label_invariants(split, index, seed, size):
    v = make_video(split, index, seed, SyntheticConfig(frame_size=size, frames_per_video=6))
    j, vis, box = v.joints, v.visible, v.boxes
    # visible joints lie inside the frame
    assert np.all(j[vis] >= 0) and np.all(j[vis] <= size - 1)
    # boxes lie in the frame and contain every visible joint
    assert np.all(box >= 0) and np.all(box <= size - 1)
    assert np.all(box[:, 2] > box[:, 0]) and np.all(box[:, 3] > box[:, 1])
    x, y = j[..., 0], j[..., 1]
    inside = (x >= box[:, None, 0] - 1e-3) & (x <= box[:, None, 2] + 1e-3)
    inside &= (y >= box[:, None, 1] - 1e-3) & (y <= box[:, None, 3] + 1e-3)
    assert np.all(inside[vis])
    # crop region: box centre, 1.25 x the longer side
    np.testing.assert_allclose(v.centers, (box[:, :2] + box[:, 2:]) / 2, rtol=1e-6)
    longer = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    np.testing.assert_allclose(v.sizes, 1.25 * longer, rtol=1e-6)


def test_left_is_the_persons_left():
    # a neutral pose facing the camera: the person's left shoulder appears on the image's right
    n = 1
    ang = {c: np.zeros(n) for c in CHANNELS}
    look, _ = person_parameters("train", 0)
    pts = forward_kinematics(ang, Body.of(look), (1.0, 0.0))
    for left, right in PENN_ACTION.flip_pairs:
        assert pts[0, left, 0] > pts[0, right, 0], PENN_ACTION.joint_names[left]
    # in rendered-video labels (image x grows to the right): every near-frontal video agrees
    frontal = 0
    for i in range(40):
        if abs(person_parameters("train", i, 0, SMALL)[1].yaw) < 0.4:
            v = make_video("train", i, 0, SMALL)
            assert np.all(v.joints[:, LSHO, 0] > v.joints[:, RSHO, 0])
            frontal += 1
    assert frontal >= 3


def test_yaw_range_lets_people_turn_their_backs_and_changes_nothing_else():
    """data.yaw_range (issue 13's "backs" probe): at pi some people face away, and then the person's left shoulder
    appears on the image's left; the yaw is the same draw scaled (1.0, the default, gives the numbers as before: 1 / pi
    of pi's), every other part of the scene is unchanged; a range outside [0, pi] is an error."""
    backs = SyntheticConfig(frame_size=SMALL.frame_size, frames_per_video=SMALL.frames_per_video, yaw_range=np.pi)
    away = 0
    for i in range(40):
        front, turned = person_parameters("train", i, 0, SMALL)[1], person_parameters("train", i, 0, backs)[1]
        assert turned.yaw == pytest.approx(np.pi * front.yaw, abs=1e-12)
        assert (turned.motion, turned.fill, turned.phase) == (front.motion, front.fill, front.phase)
        if abs(turned.yaw) > 2.4:  # well past side-on: the back faces the camera
            v = make_video("train", i, 0, backs)
            assert np.all(v.joints[:, LSHO, 0] < v.joints[:, RSHO, 0])
            away += 1
    assert away >= 3
    # bug: the torso's width took cos(yaw) with its sign, so a person facing away had a torso pinched to a wedge;
    # the back is as wide as the front
    from ttpose.data.synthetic.parts import PART_INDEX
    from ttpose.data.synthetic.video import _half_widths

    look = person_parameters("train", 0, 0, backs)[0]
    yaw = np.array([0.3, np.pi - 0.3, -0.3, -np.pi + 0.3])
    torso = _half_widths(look, Body.of(look), yaw, np.ones(4))[:, PART_INDEX["torso"]]
    assert np.allclose(torso, torso[0]) and np.all(torso > 0.05)
    from ttpose.config import DataConfig
    from ttpose.data.build import synthetic_config

    assert synthetic_config(DataConfig(dataset="synthetic", yaw_range=2.0), 8).yaw_range == 2.0  # config -> generator
    for bad in (-0.1, 3.2):
        with pytest.raises(ValueError, match="yaw_range"):
            SyntheticConfig(yaw_range=bad)


def test_the_person_is_drawn_where_the_labels_say():
    # compared with the same frame drawn without the person (the background through the same camera), the
    # pixels at the labelled torso change and nothing changes outside the labelled box
    v = make_video("train", 4, config=SyntheticConfig(frame_size=128, frames_per_video=4, occluder_prob=0.0))
    img, bg = v.images[1], v.images.background(1)
    changed = np.abs(img.astype(int) - bg.astype(int)).sum(axis=2) > 20
    torso = np.mean(v.joints[1, [1, 2, 7, 8]], axis=0).round().astype(int)
    assert changed[torso[1] - 1 : torso[1] + 2, torso[0] - 1 : torso[0] + 2].mean() > 0.5
    x1, y1, x2, y2 = v.boxes[1].round().astype(int)
    outside = changed.copy()
    outside[max(y1 - 2, 0) : y2 + 3, max(x1 - 2, 0) : x2 + 3] = False
    assert outside.mean() < 0.01  # nothing of the person is drawn outside its box


def test_motion_is_smooth():
    cfg = SyntheticConfig(frame_size=128, frames_per_video=48)
    steps = []
    for i in range(16):
        v = make_video("train", i, 0, cfg)
        steps.append(np.linalg.norm(np.diff(v.joints, axis=0), axis=-1))
    steps = np.concatenate(steps)
    assert steps.max() < 0.2 * 128  # no jumps
    assert 0.2 < np.median(steps) < 0.03 * 128  # but the pose does move


def test_population_has_invisible_joints_and_realistic_framing():
    videos = make_population("train", 40, seed=0, config=SyntheticConfig(frame_size=64, frames_per_video=6))
    visible = np.concatenate([v.visible for v in videos])
    assert 0.005 < 1 - visible.mean() < 0.3
    assert (~visible).any(axis=0)[[11, 12]].all()  # ankles leave the frame or hide behind occluders
    boxes = np.concatenate([v.boxes for v in videos])
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert 0.5 * 64 < np.median(side) < 0.9 * 64
    assert side.std() > 0.05 * 64  # framing varies
    motions = {person_parameters("train", i)[1].motion for i in range(40)}
    assert len(motions) >= 6 and motions <= set(MOTIONS)


def test_video_shift_is_zero_for_train():
    cfg = SyntheticConfig(shift=1.5)
    assert video_shift("train", cfg) == 0.0
    assert video_shift("val", cfg) == video_shift("test", cfg) == 1.5
    with pytest.raises(ValueError, match="split"):
        video_shift("dev", cfg)


def test_shift_zero_draws_val_and_test_people_from_the_training_distribution():
    cfg = SyntheticConfig(shift=0.0)
    # the appearance sampler is called with shift 0 for every split: same generator state, same person
    for split in ("val", "test"):
        assert video_shift(split, cfg) == 0.0
        assert sample_appearance(np.random.default_rng(11), video_shift(split, cfg)) == sample_appearance(
            np.random.default_rng(11), video_shift("train", cfg)
        )
    # and the populations (different random streams, so different identities) share one distribution
    train = [person_parameters("train", i, 0, cfg)[0] for i in range(300)]
    test = [person_parameters("test", i, 0, cfg)[0] for i in range(300)]
    assert train[0] != test[0]
    for field in ("skin_tone", "thickness", "leg_length"):
        p = ks_2samp([getattr(a, field) for a in train], [getattr(a, field) for a in test]).pvalue
        assert p > 1e-3, field
    hues_train = [h for a in train for h in garment_hues(a)]
    hues_test = [h for a in test for h in garment_hues(a)]
    assert ks_2samp(hues_train, hues_test).pvalue > 1e-3
    assert max(hue_distance(h) for h in hues_test) <= TRAIN_HUE_HALF
    assert {a.shirt.texture for a in test} <= set(TRAIN_TEXTURES)
    assert {a.background for a in test} == {"scene"}


def test_shift_one_makes_test_appearance_disjoint_from_training():
    cfg = SyntheticConfig(shift=1.0)
    train = [person_parameters("train", i, 0, cfg)[0] for i in range(200)]
    test = [person_parameters("test", i, 0, cfg)[0] for i in range(200)]
    assert max(hue_distance(h) for a in train for h in garment_hues(a)) <= TRAIN_HUE_HALF
    assert min(hue_distance(h) for a in test for h in garment_hues(a)) >= NOVEL_HUE_START > TRAIN_HUE_HALF
    assert all(0.85 <= a.thickness <= 1.15 for a in train)
    assert all(not 0.85 < a.thickness < 1.15 for a in test)
    assert all(0.25 <= a.skin_tone <= 0.75 for a in train)
    assert all(not 0.25 < a.skin_tone < 0.75 for a in test)
    assert all(a.shirt.texture in NOVEL_TEXTURES for a in test)
    assert {a.shirt.texture for a in train} <= set(TRAIN_TEXTURES)
    assert {a.background for a in test} == {"pattern"} and {a.background for a in train} == {"scene"}
    # a stronger shift pushes the body further out
    strong = [person_parameters("test", i, 0, SyntheticConfig(shift=2.0))[0] for i in range(200)]
    assert all(not 0.7 < a.thickness < 1.3 for a in strong)
    # the scene (motion, camera, occluder) is not shifted: same stream, same scene at any shift
    scene_1 = person_parameters("test", 3, 0, cfg)[1]
    scene_0 = person_parameters("test", 3, 0, SyntheticConfig(shift=0.0))[1]
    assert (scene_1.motion, scene_1.yaw, scene_1.fill) == (scene_0.motion, scene_0.yaw, scene_0.fill)


def test_val_and_test_identities_differ():
    val = [person_parameters("val", i)[0] for i in range(20)]
    test = [person_parameters("test", i)[0] for i in range(20)]
    assert not set(val) & set(test)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="split"):
        make_video("dev", 0)
    with pytest.raises(ValueError, match="shift"):
        SyntheticConfig(shift=-1.0)
    with pytest.raises(ValueError, match="frame_size"):
        SyntheticConfig(frame_size=8)


def test_long_video_is_one_person_whose_scene_changes_per_segment():
    """make_long_video: segment 0 is make_video's video; later segments keep the look and draw new scenes;
    frames, labels and boxes line up across the segment boundaries."""
    config = SyntheticConfig(frame_size=48, frames_per_video=6)
    long = make_long_video("val", 3, 0, config, segments=4)
    short = make_video("val", 3, 0, config)
    assert len(long) == 24 and long.joints.shape == (24, 13, 2) and long.person_id == short.person_id
    assert np.array_equal(long.images[0], short.images[0]) and np.array_equal(long.joints[:6], short.joints)
    parts = long.images.sources
    assert all(p.look == parts[0].look for p in parts)  # one person
    assert len({(p.scene.motion, p.scene.phase) for p in parts}) == 4  # a new scene per segment
    assert np.array_equal(long.images[13], parts[2][1]) and np.array_equal(long.images[-1], parts[3][5])
    assert np.array_equal(make_long_video("val", 3, 0, config, segments=4).joints, long.joints)  # deterministic
    with pytest.raises(IndexError):
        long.images[24]
    with pytest.raises(ValueError, match="segments"):
        make_long_video("val", 3, 0, config, segments=0)


def test_every_motion_a_scene_draws_has_its_family_in_the_same_order():
    """sample_scene picks MOTIONS[k]; motion.FAMILIES must implement each, keyed in that order."""
    assert tuple(FAMILIES) == MOTIONS


def test_every_part_has_a_covering_and_clothing_follows_the_look():
    kinds = {p.name.removeprefix("l_").removeprefix("r_") for p in PARTS}
    assert kinds == set(COVERINGS)
    seen = set()
    for index in range(6):  # people with long and short sleeves and trousers
        look, _ = person_parameters("val", index, 0, SMALL)
        specs = part_specs(look, Body.of(look))
        assert len(specs) == len(PARTS)
        for part, spec in zip(PARTS, specs, strict=True):
            cover = COVERINGS[part.name.removeprefix("l_").removeprefix("r_")]
            if not isinstance(cover, Clothing):
                continue
            long = getattr(look, cover.long)
            seen.add((cover.long, long))
            if long:  # the garment's colour over the whole part
                assert spec.base == getattr(look, cover.garment).color, part.name
            else:  # bare skin, with the short garment's end on the upper segment only
                assert spec.base == look.skin and bool(spec.cells) == (cover.short is not None), part.name
    assert len(seen) == 4


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**20), start=st.integers(0, 500), n=st.integers(1, 64), p=st.floats(0.0, 1.0),
       split=st.sampled_from(["val", "test"]))
def test_split_draws_give_every_run_of_people_the_share_asked_for(seed, start, n, p, split):
    """Issue 13 (noisy test set): drawn per person, a "pattern" background fell on 5-10 of 16 people at shift
    0.35; spread evenly, any run of n people holds n * p of them to within about two."""
    from ttpose.data.synthetic.people import split_draws

    draws = [split_draws(split, i, seed) for i in range(start, start + n)]
    for values in ([d.background for d in draws], [d.shirt_texture for d in draws]):
        assert all(0.0 <= v < 1.0 for v in values)
        assert abs(sum(v < p for v in values) - n * p) <= 2.1


def test_stratified_people_change_only_the_background_style_and_the_shirt_texture():
    plain, even = SyntheticConfig(shift=0.35), SyntheticConfig(shift=0.35, stratified=True)
    counts = []
    for i in range(64):
        a, b = person_parameters("test", i, 3, plain)[0], person_parameters("test", i, 3, even)[0]
        assert b.shirt.hue == a.shirt.hue and b.shirt.seed == a.shirt.seed and b.trousers == a.trousers
        assert (b.skin_tone, b.thickness, b.background_seed) == (a.skin_tone, a.thickness, a.background_seed)
        counts.append(b.background == "pattern")
    assert all(abs(sum(counts[k:k + 16]) - 16 * 0.35) <= 2 for k in range(0, 64, 16))
    # the training people (shift 0) are the same people either way
    assert all(person_parameters("train", i, 0, even)[0] == person_parameters("train", i, 0, SyntheticConfig())[0]
               for i in range(20))
    # at shift 1 every shifted person has the novel background, as without stratification
    assert all(person_parameters("val", i, 0, SyntheticConfig(shift=1.0, stratified=True))[0].background == "pattern"
               for i in range(20))
