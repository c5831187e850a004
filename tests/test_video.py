"""Reading users' videos and image folders (ttpose.data.video), including damaged inputs."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ttpose.data.video import FrameSkippedWarning, VideoError, natural_key, open_frames

W, H, STEP = 64, 48, 20  # frame i is a flat grey of level i * STEP (plus a white marker, see _frame)


def _frame(i: int) -> np.ndarray:
    image = np.full((H, W, 3), i * STEP, np.uint8)
    image[:8, :16] = 255  # top-left marker, to check orientation
    return image


def _mean_level(image: np.ndarray) -> float:
    return float(image[16:, 24:].mean())  # away from the marker


def write_video(path: Path, codec: str = "libx264", n: int = 10, pix_fmt: str = "yuv420p", **options) -> Path:
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def packet_spans(path: Path) -> list[tuple[int, int]]:
    """(byte offset, size) of each video packet in the file."""
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


def one_line_error(excinfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and path.name in message
    return message


@pytest.mark.parametrize(("name", "codec", "pix_fmt"), [
    ("clip.mp4", "libx264", "yuv420p"),
    ("clip.avi", "mpeg4", "yuv420p"),
    ("clip.mkv", "libx264", "yuv420p"),
    ("clip.mov", "mpeg4", "yuv420p"),
    ("clip.avi", "mjpeg", "yuvj420p"),
])
def test_video_files_stream_every_frame(tmp_path, name, codec, pix_fmt):
    path = write_video(tmp_path / name, codec, n=10, pix_fmt=pix_fmt)
    reader = open_frames(path)
    info = reader.info
    assert (info.width, info.height, info.fps) == (W, H, 10.0)
    assert info.codec == {"libx264": "h264"}.get(codec, codec)
    assert info.num_frames == 10 and not info.exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file: no skipped frames, no truncation warning
        frames = list(reader)
    assert [i for i, _ in frames] == list(range(10))
    for i, image in frames:
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert abs(_mean_level(image) - i * STEP) < 6
        assert image[:8, :16].mean() > 200  # the marker stays top-left
    assert reader.skipped == [] and len(reader) == 10 and reader.info.exact


def test_hevc_in_mkv(tmp_path):
    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV build has no libx265 encoder to write an HEVC test clip")
    path = write_video(tmp_path / "clip.mkv", "libx265", n=6)
    reader = open_frames(path)
    assert reader.info.codec == "hevc"
    assert [round(_mean_level(im) / STEP) for _, im in reader] == list(range(6))


def test_len_is_unknown_before_a_pass_and_passes_restart(tmp_path):
    reader = open_frames(write_video(tmp_path / "clip.mp4", n=8))
    with pytest.raises(TypeError, match="complete pass"):
        len(reader)
    for i, _ in reader:  # an abandoned pass
        if i == 2:
            break
    assert [i for i, _ in reader] == list(range(8))
    assert len(reader) == 8


def test_display_rotation_is_applied(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=3)
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd") + 44  # version-0 track header: the 3x3 display matrix (16.16 fixed point)
    data[at:at + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)  # as phones write
    rotated = tmp_path / "portrait.mp4"
    rotated.write_bytes(bytes(data))
    reader = open_frames(rotated)
    assert (reader.info.width, reader.info.height, reader.info.rotation) == (H, W, -90)
    _, image = next(iter(reader))
    assert image.shape == (W, H, 3)
    assert image[:16, -8:].mean() > 200 and image[:16, :8].mean() < 100  # marker turned clockwise: top-right


def test_folder_of_images_in_natural_order(tmp_path):
    for i, name in enumerate(["1.png", "2.jpg", "10.bmp", "frame_11.png"]):
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    reader = open_frames(tmp_path)
    assert reader.names == ["1.png", "2.jpg", "10.bmp", "frame_11.png"]
    info = reader.info
    assert (info.width, info.height, info.fps, info.codec) == (W, H, None, "images")
    assert len(reader) == 4 and reader.info.exact
    frames = list(reader)
    assert [i for i, _ in frames] == [0, 1, 2, 3]
    assert [round(_mean_level(im) / STEP) for _, im in frames] == [0, 1, 2, 3]
    assert frames[0][1][0, 0].tolist() == [255, 255, 255]


def test_natural_key():
    names = ["img10.jpg", "img2.jpg", "IMG1.jpg", "b.jpg", "a.jpg"]
    assert sorted(names, key=natural_key) == ["a.jpg", "b.jpg", "IMG1.jpg", "img2.jpg", "img10.jpg"]


# ---------------------------------------------------------------------------------------------- errors


def test_missing_path(tmp_path):
    with pytest.raises(VideoError, match="no such file") as e:
        open_frames(tmp_path / "nothing.mp4")
    one_line_error(e, tmp_path / "nothing.mp4")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoError, match="empty file") as e:
        open_frames(path)
    one_line_error(e, path)


def test_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match="not a readable video") as e:
        open_frames(path)
    one_line_error(e, path)


def test_truncated_mp4(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) at the end is lost
    with pytest.raises(VideoError, match="truncated or damaged") as e:
        open_frames(path)
    one_line_error(e, path)


def test_truncated_avi_keeps_its_frames_and_warns(tmp_path):
    path = write_video(tmp_path / "clip.avi", "mjpeg", n=10, pix_fmt="yuvj420p")
    pos, size = packet_spans(path)[6]
    path.write_bytes(path.read_bytes()[: pos + size // 2])  # cut inside frame 6
    reader = open_frames(path)
    with pytest.warns(FrameSkippedWarning, match="truncated"):
        indices = [i for i, _ in reader]
    assert indices == list(range(6))


def test_no_decodable_frames(tmp_path):
    path = write_video(tmp_path / "clip.avi", "mjpeg", n=4, pix_fmt="yuvj420p")
    data = bytearray(path.read_bytes())
    for pos, size in packet_spans(path):
        data[pos:pos + size] = bytes(size)
    path.write_bytes(bytes(data))
    with pytest.raises(VideoError, match="no decodable video frames") as e:
        open_frames(path)
    one_line_error(e, path)


def test_corrupt_middle_frame_is_skipped_and_numbering_kept(tmp_path):
    path = write_video(tmp_path / "clip.avi", "mjpeg", n=10, pix_fmt="yuvj420p")
    data = bytearray(path.read_bytes())
    pos, size = packet_spans(path)[5]
    data[pos:pos + size] = bytes(size)  # MJPEG: a zeroed packet is rejected by the decoder
    path.write_bytes(bytes(data))
    reader = open_frames(path)
    with pytest.warns(FrameSkippedWarning, match="skipped frame 5: decode error"):
        frames = list(reader)
    assert [i for i, _ in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert all(abs(_mean_level(im) - i * STEP) < 6 for i, im in frames)  # frames keep their source number
    assert reader.skipped == [5] and len(reader) == 10


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(VideoError, match="no images") as e:
        open_frames(tmp_path)
    one_line_error(e, tmp_path)
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(VideoError, match="no images"):
        open_frames(tmp_path)


def test_unreadable_image_in_folder(tmp_path):
    """An image whose header cannot be read is reported when the folder is opened, before any work; one
    that is damaged after a good header is skipped with a warning, like a corrupt video frame (regression:
    both surfaced mid-run and aborted it)."""
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _frame(i))
    good = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(b"\x89PNG garbage that is not an image")
    with pytest.raises(VideoError, match="cannot read image") as e:
        open_frames(tmp_path)
    one_line_error(e, tmp_path / "1.png")
    (tmp_path / "1.png").write_bytes(good[: len(good) // 2])  # header intact, pixels truncated
    reader = open_frames(tmp_path)
    with pytest.warns(FrameSkippedWarning, match="frame 1 skipped"):
        assert [i for i, _ in reader] == [0, 2]
    assert reader.skipped == [1]
    (tmp_path / "0.png").write_bytes(b"")
    with pytest.raises(VideoError, match="empty image") as e:
        open_frames(tmp_path)
    one_line_error(e, tmp_path / "0.png")


def test_images_of_different_sizes(tmp_path):
    cv2.imwrite(str(tmp_path / "0.png"), _frame(0))
    cv2.imwrite(str(tmp_path / "1.png"), _frame(1)[:, :32])
    with pytest.raises(VideoError, match="one size") as e:
        open_frames(tmp_path)  # found from the headers, before any frame is processed
    one_line_error(e, tmp_path / "1.png")


def test_real_jhmdb_clip(shared_data):
    path = next((shared_data / "jhmdb_clip").glob("*.avi"))
    reader = open_frames(path)
    assert reader.info.num_frames == 48  # the AVI header also counts 8 dropped (empty) frames
    assert (reader.info.width, reader.info.height, reader.info.codec) == (320, 240, "mpeg4")
    assert reader.info.fps == pytest.approx(30, abs=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file: no skipped frames, no truncation warning
        count = sum(1 for i, image in reader if image.shape == (240, 320, 3) and image.std() > 5)
    assert count == 40 and len(reader) == 40 and reader.skipped == []
