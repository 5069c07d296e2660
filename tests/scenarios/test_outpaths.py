"""The one helper for output paths: writable, the right kind, nothing overwritten unasked."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.outpaths import foreign_files, writable_dir, writable_file


def test_folders(tmp_path: Path) -> None:
    assert writable_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        writable_dir(tmp_path / "f.txt")
    with pytest.raises(ValueError, match="empty path"):
        writable_dir("")
    with pytest.raises(ValueError, match="not writable"):
        writable_dir("/proc/ampel-test/x")
    held = tmp_path / "held"
    held.mkdir()
    (held / ".hidden").write_text("")
    assert writable_dir(held, empty=True) == held  # hidden files do not count
    (held / "policy.onnx").write_text("mine")
    with pytest.raises(ValueError, match=r"already holds files \(policy.onnx\); pass --resume"):
        writable_dir(held, "--out", empty=True, hint="pass --resume")
    assert (held / "policy.onnx").read_text() == "mine"


def test_files(tmp_path: Path) -> None:
    assert writable_file(tmp_path / "new" / "r.html") == tmp_path / "new" / "r.html"
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        writable_file(tmp_path)
    with pytest.raises(ValueError, match="cannot be written"):
        writable_file("/proc/ampel-test/r.html")
    (tmp_path / "f.txt").write_text("x")
    assert writable_file(tmp_path / "f.txt") == tmp_path / "f.txt"
    with pytest.raises(ValueError, match="exists already"):
        writable_file(tmp_path / "f.txt", overwrite=False)
    with pytest.raises(ValueError, match="is a file, not a folder"):
        writable_file(tmp_path / "f.txt" / "x.html")


def test_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a", "b", "sub/c"):
        (tmp_path / name).write_text(name)
    assert foreign_files(tmp_path, ["a"]) == ["b", "sub/c"]
