"""Atomic writes keep the permissions of a plain write (umask, or the replaced file's mode)."""

import os
import stat

import pytest

from ttpose.atomic import atomic_write_text


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o007, 0o660)])
def test_new_file_mode_follows_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == mode


def test_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
