"""The error tree: a user's mistake is one line and exit 2, a bug is exit 1 with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

import experiments.cli.scenarios
from experiments.cli import main
from signals.errors import (
    AmpelError,
    ConfigError,
    FieldDeviceError,
    ParameterError,
    PolicyError,
    ScenarioError,
)

HINT = "please report it; run with -v for the traceback"


@pytest.mark.parametrize("cls", [ConfigError, ScenarioError, ParameterError, PolicyError,
                                 FieldDeviceError])
def test_every_user_error_is_an_ampel_error_and_a_value_error(cls: type[Exception]) -> None:
    assert issubclass(cls, AmpelError)
    with pytest.raises(ValueError, match="bad"):
        raise cls("bad")


def _break_scenarios(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """Make ``ampel scenarios`` fail with ``exc``, as a bug inside the command would."""
    def handler(args: object) -> int:
        raise exc
    monkeypatch.setattr(experiments.cli.scenarios, "_cmd_scenarios", handler)


def test_a_user_error_is_one_line_and_exit_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--scenario", "atlantis", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "unknown scenario 'atlantis'" in err
    assert "internal error" not in err


@pytest.mark.parametrize("exc", [KeyError("stage"), ValueError("math domain error"),
                                 RuntimeError("oops")])
def test_an_internal_error_is_one_line_with_the_hint_and_exit_1(
        exc: Exception, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _break_scenarios(monkeypatch, exc)
    code = main(["scenarios"])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ampel: internal error: ")
    assert type(exc).__name__ in lines[0]
    assert HINT in lines[0]
    assert "Traceback" not in err


def test_a_typed_error_from_a_handler_is_a_user_error(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _break_scenarios(monkeypatch, FieldDeviceError("no field controller answered at x:502"))
    code = main(["scenarios"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "ampel: error: no field controller answered at x:502"


def test_verbose_shows_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _break_scenarios(monkeypatch, KeyError("stage"))
    code = main(["-v", "scenarios"])
    err = capsys.readouterr().err
    assert code == 1
    assert HINT in err
    assert "Traceback (most recent call last)" in err
    assert "in handler" in err and "KeyError: 'stage'" in err


def test_the_log_file_gets_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _break_scenarios(monkeypatch, KeyError("stage"))
    log_file = tmp_path / "ampel.log"
    code = main(["--log-file", str(log_file), "scenarios"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    text = log_file.read_text()
    assert "internal error" in text
    assert "Traceback (most recent call last)" in text and "KeyError: 'stage'" in text


def test_an_unwritable_log_file_is_a_user_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--log-file", str(tmp_path / "no" / "such" / "ampel.log"), "scenarios"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--log-file" in err and len(err.strip().splitlines()) == 1
