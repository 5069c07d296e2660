"""Issue 14: re-running ``ampel calibrate`` never loses a user's files; relative --out works."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.cli import main

pytestmark = pytest.mark.slow

COUNTS = ("point,edge,count\nN in,north_in,570\nS in,south_in,510\nW in,west_in,360\n"
          "E in,east_in,260\n")


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user-scenarios"
    monkeypatch.setenv("AMPEL_SCENARIOS", str(folder))
    return folder


def test_rerun_replaces_only_untouched_calibrations(tmp_path: Path, user_dir: Path,
                                                    westentor, capsys) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(COUNTS, encoding="utf-8")
    args = ["calibrate", "--scenario", "westentor", "--counts", str(counts)]
    assert main(args) in (0, 1)
    folder = user_dir / "westentor-calibrated"
    assert "--scenario westentor-calibrated " in capsys.readouterr().out
    assert main(args) in (0, 1)  # ampel's own, unchanged files: replaced
    capsys.readouterr()
    notes = folder / "notes.txt"
    notes.write_text("my field notes", encoding="utf-8")
    card = (folder / "CARD.md").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "notes.txt" in err and len(err.splitlines()) == 1
    assert notes.read_text(encoding="utf-8") == "my field notes"
    assert (folder / "CARD.md").read_bytes() == card
    notes.unlink()
    (folder / "CARD.md").write_text("# edited by hand", encoding="utf-8")
    assert main(args) == 2
    assert "CARD.md" in capsys.readouterr().err
    assert (folder / "CARD.md").read_text(encoding="utf-8") == "# edited by hand"


def test_relative_out_outside_the_user_folder_works_and_hints_the_sumocfg(
        tmp_path: Path, user_dir: Path, westentor, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counts.csv").write_text(COUNTS, encoding="utf-8")
    assert main(["calibrate", "--scenario", "westentor", "--counts", "counts.csv",
                 "--out", "cal/west"]) in (0, 1)
    out = capsys.readouterr().out
    sumocfg = tmp_path / "cal" / "west" / "west.sumocfg"
    assert sumocfg.is_file()
    assert f"--scenario {sumocfg} " in out
