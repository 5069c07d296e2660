"""Issue 14: one bad user scenario never breaks the others; names are never shadowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.cli import main
from scenarios.registry import find_spec, problems, registered

WESTENTOR = Path(__file__).resolve().parents[2] / "scenarios/hamm/westentor/scenario.yaml"


def user_scenario(root: Path, folder: str, name: str, edit=None) -> Path:
    path = root / folder / "scenario.yaml"
    path.parent.mkdir(parents=True)
    text = WESTENTOR.read_text(encoding="utf-8").replace("name: westentor", f"name: {name}", 1)
    path.write_text(edit(text) if edit else text, encoding="utf-8")
    return path


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AMPEL_SCENARIOS", str(tmp_path))
    return tmp_path


def test_bad_duplicate_and_shadowing_user_scenarios_are_listed_not_fatal(
        user_dir: Path, capsys) -> None:
    user_scenario(user_dir, "good", "good")
    user_scenario(user_dir, "broken", "broken",
                  lambda t: t.replace("truck_share: 0.05", "truck_share: [1, 2]"))
    user_scenario(user_dir, "twin_a", "twin")
    user_scenario(user_dir, "twin_b", "twin")
    user_scenario(user_dir, "mine", "westentor")  # named like a Hamm scenario
    names = [e.name for e in registered()]
    assert "good" in names and "westentor" in names
    assert "broken" not in names and "twin" not in names
    assert find_spec("westentor").folder == WESTENTOR.parent  # Hamm's, not the user's
    refused = {(b.name, b.folder.name) for b in problems()}
    assert {("broken", "broken"), ("twin", "twin_a"), ("twin", "twin_b"),
            ("westentor", "mine")} <= refused
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "NOT USABLE" in out and "taken by a Hamm scenario" in out
    with pytest.raises(ValueError, match="scenario 'twin' is not usable.*2 folders"):
        find_spec("twin")
    assert main(["run", "--scenario", "broken", "--out", str(user_dir / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "truck_share" in err and len(err.splitlines()) == 1
