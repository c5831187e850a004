"""Users' videos in: a video file (PyAV) or a folder of images, streamed frame by frame as RGB uint8.

``open_frames(path)`` checks the input up front (it decodes the first frame) so that a bad file fails
before any model is loaded, and returns a `FrameReader` that yields ``(frame_index, rgb)`` pairs with
constant memory: a video is never decoded into memory as a whole, and each pass re-opens the file.

Frame numbering: ``frame_index`` is the frame's position in the source, 0-based, in presentation order.
For a folder it is the position of the file in natural sort order (``2.jpg`` before ``10.jpg``). For a
video, a packet that the decoder rejects ("skipped frame 17: decode error ...", a warning) still consumes
its index, which is recorded in ``reader.skipped``; the frames after it keep their source numbers, so a
per-frame box file (`ttpose.boxes`) still lines up. Decoders that conceal damage themselves (H.264 error
concealment) output a damaged picture instead, which keeps its index and is not counted as skipped.
With B-frames a rejected packet is numbered at the next output position (exact for intra-only codecs such
as MJPEG and for streams without B-frames).

Videos whose container stores a display rotation (phones' portrait clips) are rotated as players show
them; ``info.rotation`` says by how many degrees (counter-clockwise) that was.

What a path holds (`input_kind`): a video file; a folder of images, one person's frames (an image sequence in
natural order, or an unordered set of photos); or a folder of video files (``VIDEO_SUFFIXES``, `list_videos`),
each its own person. A folder with both videos and images is refused. `count_frames` counts a video's frames
before any decoding (a demux pass), and `read_frames` turns the reader's skipped-frame warnings into one-line
messages.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
_SIGNATURES = {  # leading bytes of containers we read -> their name, to tell "damaged" from "not a video"
    b"RIFF": "AVI",
    b"\x1a\x45\xdf\xa3": "Matroska/MKV",
}


class VideoError(ValueError):
    """A video file or image folder that cannot be read; the message is one line naming the file."""


class FrameSkippedWarning(UserWarning):
    """A frame in the middle of a video could not be decoded and was skipped."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # of the frames as yielded (after display rotation)
    height: int
    fps: float | None  # None for a folder of images or when the container does not say
    num_frames: int | None  # exact for a folder; for a video the container's count or an estimate
    #   (an AVI's header counts dropped frames too: JHMDB's clips announce 48 and decode to 40)
    exact: bool  # whether num_frames is exact (a folder, or a video after one complete pass)
    codec: str  # decoder name ("h264", "mpeg4", ...) or "images"
    rotation: int = 0  # degrees counter-clockwise applied to the decoded frames (display matrix)


class FrameReader:
    """Iterates ``(frame_index, rgb uint8 H x W x 3)``; ``info``, ``skipped``, ``len()`` when known."""

    info: VideoInfo
    skipped: list[int]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def __len__(self) -> int:
        if not self.info.exact or self.info.num_frames is None:
            raise TypeError(f"{self.info.path}: the number of frames is only known after one complete pass")
        return self.info.num_frames

    def __length_hint__(self) -> int:
        return self.info.num_frames or 0


def open_frames(path: str | Path) -> FrameReader:
    """A video file (H.264/HEVC/MPEG-4 in MP4/MOV/AVI/MKV, ...) or a folder of jpg/jpeg/png/bmp images."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolderReader(path)
    return VideoFileReader(path)


def read_frames(reader: FrameReader, on_skip: Callable[[str], None] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The reader's ``(frame_index, rgb)`` pairs; each `FrameSkippedWarning` becomes a one-line message passed to
    ``on_skip`` (None: dropped, e.g. on a second pass that already reported them). Other warnings pass on."""
    frames = iter(reader)
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FrameSkippedWarning)
            item = next(frames, None)
        for w in caught:
            if not issubclass(w.category, FrameSkippedWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif on_skip is not None:
                on_skip(str(w.message))
        if item is None:
            return
        yield item


def count_frames(reader: FrameReader) -> int:
    """The number of source frames, before decoding: a folder's images, or a video's non-empty packets
    (one per frame; an AVI's empty "dropped frame" packets are not frames, as in ``open_frames``)."""
    if reader.info.exact and reader.info.num_frames:
        return int(reader.info.num_frames)
    import av

    count = 0
    try:
        with av.open(str(reader.info.path)) as container:
            for packet in container.demux(container.streams.video[0]):
                count += bool(packet.size)
    except (av.error.FFmpegError, OSError):
        pass  # a damaged container: count what could be read
    return count or int(reader.info.num_frames or 1)


# ------------------------------------------------------------------------------------------ what a path holds


def input_kind(path: str | Path) -> str:
    """"video" (a file), "images" (a folder of images: one person) or "videos" (a folder of video files)."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if not path.is_dir():
        return "video"
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if videos and images:
        raise VideoError(f"{path}: holds both video files ({videos[0].name}, ...) and images ({images[0].name}, "
                         "...); give a folder of videos or a folder of one person's images")
    return "videos" if videos else "images"


def list_videos(folder: str | Path) -> list[Path]:
    """The video files of a folder (not recursive), in natural sort order."""
    folder = Path(folder)
    videos = [p for p in folder.iterdir()
              if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        raise VideoError(f"{folder}: no video files ({', '.join(s[1:] for s in VIDEO_SUFFIXES)}) in this folder")
    return sorted(videos, key=lambda p: natural_key(p.name))


# ---------------------------------------------------------------------------------------------- video files


def _reason(exc: BaseException) -> str:
    """An FFmpeg/OS error as a short phrase on one line."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _container_kind(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "MP4/MOV"
    for sig, name in _SIGNATURES.items():
        if head.startswith(sig):
            return name
    return None


def _rotated(image: np.ndarray, rotation: int) -> np.ndarray:
    k = int(round(rotation / 90)) % 4  # np.rot90 turns counter-clockwise, as the display matrix angle
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


# codecs of FFmpeg's text "demuxers" (tty: any text file; bintext, xbin, idf: ANSI art), never a camera's video
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


class VideoFileReader(FrameReader):
    """Streams a video file with PyAV; see the module docstring for numbering and skipped frames."""

    def __init__(self, path: Path):
        import av

        self.path = path
        self.skipped = []
        if path.stat().st_size == 0:
            raise VideoError(f"{path}: empty file (0 bytes), expected a video")
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as exc:
            kind = _container_kind(path)
            if kind:
                raise VideoError(f"{path}: {kind} file is truncated or damaged ({_reason(exc)})") from None
            raise VideoError(
                f"{path}: not a readable video ({_reason(exc)}); expected H.264, HEVC or MPEG-4 in MP4, MOV, "
                "AVI or MKV, or a folder of images"
            ) from None
        with container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream in this file")
            stream = container.streams.video[0]
            if stream.codec_context.name in TEXT_CODECS:  # FFmpeg renders a text file as a "video" of its text
                raise VideoError(f"{path}: not a readable video (a text file, which FFmpeg would draw as text); "
                                 "expected H.264, HEVC or MPEG-4 in MP4, MOV, AVI or MKV, or a folder of images")
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            num = int(stream.frames or 0)
            if num <= 0:  # e.g. MKV: no count in the header; estimate from the duration
                duration = None
                if stream.duration is not None and stream.time_base is not None:
                    duration = float(stream.duration * stream.time_base)
                elif container.duration:
                    duration = container.duration / 1_000_000  # av.time_base
                num = int(round(duration * fps)) if duration and fps else 0
            codec = stream.codec_context.name
            self._expected_end = None  # seconds: where the stream should end, to tell a truncated file
            if stream.duration is not None and stream.time_base is not None:
                self._expected_end = float((stream.duration + (stream.start_time or 0)) * stream.time_base)
            elif container.duration:
                self._expected_end = (container.duration + (container.start_time or 0)) / 1_000_000
        frames = self._decode(warn=False)
        try:
            first = next(frames, None)
        finally:
            frames.close()  # closes the container
        if first is None:
            raise VideoError(f"{path}: no decodable video frames (file truncated or damaged?)")
        _, image, rotation = first
        h, w = image.shape[:2]
        self.info = VideoInfo(path, w, h, fps, num or None, False, codec, rotation)

    def _decode(self, warn: bool) -> Iterator[tuple[int, np.ndarray, int]]:
        """(index, rgb, rotation) for each decodable frame; rejected packets go to ``self.skipped``."""
        import av

        self.skipped = []
        self._stream_end = None  # seconds: the latest packet end time seen, to tell a truncated file
        index = 0
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(f"{self.path}: cannot open the video again ({_reason(exc)})") from None
        with container:
            stream = container.streams.video[0]
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:  # a damaged container: keep what was decoded
                    if warn:
                        warnings.warn(f"{self.path}: stopped reading at frame {index}: {_reason(exc)}",
                                      FrameSkippedWarning, stacklevel=3)
                    break
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    self._stream_end = max(self._stream_end or end, end)
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    if packet.size:  # a rejected packet = one source frame
                        self.skipped.append(index)
                        if warn:
                            warnings.warn(f"{self.path}: skipped frame {index}: decode error "
                                          f"({_reason(exc)})", FrameSkippedWarning, stacklevel=3)
                        index += 1
                    continue
                for frame in frames:
                    rotation = int(frame.rotation or 0)
                    yield index, _rotated(frame.to_ndarray(format="rgb24"), rotation), rotation
                    index += 1

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        count = decoded = 0
        for index, image, _ in self._decode(warn=True):
            decoded += 1
            count = index + 1
            yield index, image
        if decoded == 0:
            raise VideoError(f"{self.path}: no decodable video frames (file truncated or damaged?)")
        count = max(count, self.skipped[-1] + 1 if self.skipped else 0)
        expected, seen = self._expected_end, self._stream_end
        short = expected is not None and seen is not None and expected - seen > 2 / (self.info.fps or 1)
        if short and not self.info.exact:  # warn on the first pass only
            warnings.warn(f"{self.path}: the stream ended at {seen:.2f} s of the {expected:.2f} s its header "
                          f"announces, after {count} frames (file truncated?)", FrameSkippedWarning,
                          stacklevel=2)
        self.info = dataclasses.replace(self.info, num_frames=count, exact=True)


# ---------------------------------------------------------------------------------------------- image folders


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: 2.jpg before 10.jpg."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t]


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header (Pillow, which matplotlib already requires); no decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError):
        raise VideoError(f"{path}: cannot read image (empty, truncated or not an image file)") from None


def _read_image(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if path.stat().st_size else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise VideoError(f"{path}: cannot read image (empty, truncated or not an image file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageFolderReader(FrameReader):
    """The images of one folder (not recursive), in natural sort order; all must have the same size."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.skipped = []
        images = [p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
        self.files = sorted(images, key=lambda p: natural_key(p.name))
        if not self.files:
            kinds = ", ".join(s[1:] for s in IMAGE_SUFFIXES)
            raise VideoError(f"{folder}: no images ({kinds}) in this folder")
        for p in self.files:
            if p.stat().st_size == 0:
                raise VideoError(f"{p}: empty image file (0 bytes)")
        h, w = _read_image(self.files[0]).shape[:2]
        for p in self.files[1:]:  # every size from its header, before any work: one size for all frames
            size = _image_size(p)
            if size != (w, h):
                raise VideoError(f"{p}: image is {size[0]}x{size[1]}, the folder's first image {self.files[0].name} "
                                 f"is {w}x{h}; all frames must have one size")
        self.info = VideoInfo(folder, w, h, None, len(self.files), True, "images")

    @property
    def names(self) -> list[str]:
        """File names in frame order (frame i is ``names[i]``)."""
        return [p.name for p in self.files]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        w, h = self.info.width, self.info.height
        self.skipped = []
        for i, p in enumerate(self.files):
            try:
                image = _read_image(p)
            except VideoError as exc:  # a damaged image (its header was fine): skipped, like a corrupt video frame
                self.skipped.append(i)
                warnings.warn(f"{exc}; frame {i} skipped", FrameSkippedWarning, stacklevel=2)
                continue
            if image.shape[:2] != (h, w):
                raise VideoError(f"{p}: image is {image.shape[1]}x{image.shape[0]}, the folder's first image "
                                 f"{self.files[0].name} is {w}x{h}; all frames must have one size")
            yield i, image
