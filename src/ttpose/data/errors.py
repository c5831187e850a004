"""One error type for dataset folders that cannot be read, with a message that helps the user fix it.

Every loader (`penn_action`, `h36m`, `bbc_pose`) checks the folder before reading anything, so a missing
or malformed file is reported as one line naming the file, what was expected there and how to fix it,
instead of a traceback deep inside a data-loader worker (one line, wrapped here):

    /data/penn/labels/0042.mat: expected keys x, y, visibility, bbox, train, nframes; missing bbox; fix:
    re-extract labels/ from the original Penn_Action.tar.gz (see docs/datasets.md)
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset file or folder that cannot be used. ``str(e)`` is one line: file, expectation, fix."""

    def __init__(self, file: str | Path, expected: str, fix: str = "see docs/datasets.md for the expected layout"):
        self.file, self.expected, self.fix = str(file), expected, fix
        super().__init__(f"{self.file}: expected {expected}; fix: {fix}")


def require_dir(path: str | Path, what: str, fix: str) -> Path:
    """``path`` as a Path if it is a folder, else DatasetError ("expected <what>")."""
    path = Path(path)
    if not path.is_dir():
        state = "a file" if path.exists() else "missing"
        raise DatasetError(path, f"{what} (a folder; it is {state})", fix)
    return path


def require_file(path: str | Path, what: str, fix: str) -> Path:
    """``path`` as a Path if it is a non-empty file, else DatasetError."""
    path = Path(path)
    if not path.is_file():
        state = "a folder" if path.is_dir() else "missing"
        raise DatasetError(path, f"{what} (a file; it is {state})", fix)
    if path.stat().st_size == 0:
        raise DatasetError(path, f"{what} (the file is empty)", fix)
    return path
