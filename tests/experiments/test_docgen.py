"""The generated reference pages follow the code: change the source, the page changes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from controllers.common import attribute_docs
from controllers.registry import ControllerInfo, controller_infos, parameter_rows
from experiments.docgen import (
    controller_parameters_markdown,
    register_map_markdown,
    register_maps_markdown,
    scenarios_markdown,
)
from hil.registermap import (
    DEFAULT_PROFILE,
    load_register_map,
    parse_register_map,
    shipped_profiles,
)
from scenarios.registry import HAMM_DIR, registered


@dataclasses.dataclass(frozen=True)
class _Params:
    """Example parameters.

    Attributes:
        gap_s: a gap
            that goes on.
        lo, hi: two bounds.
    """

    gap_s: float = 3.0
    lo: int = 1
    hi: int = 9
    _private: int = 0


def test_attribute_docs_reads_google_style_sections() -> None:
    docs = attribute_docs(_Params)
    assert docs == {"gap_s": "a gap that goes on.", "lo": "two bounds.", "hi": "two bounds."}


def _page(cls: type) -> str:
    info = ControllerInfo("demo", "A demo controller.", tuple(parameter_rows(cls)))
    return controller_parameters_markdown([info])


def test_parameter_page_follows_a_changed_default() -> None:
    assert "| `gap_s` | `3` | a gap that goes on. |" in _page(_Params)
    changed = dataclasses.make_dataclass(
        "_Params", [("gap_s", float, dataclasses.field(default=4.5))], frozen=True)
    changed.__doc__ = _Params.__doc__
    assert "| `gap_s` | `4.5` | a gap that goes on. |" in _page(changed)
    assert [r[0] for r in parameter_rows(_Params)] == ["gap_s", "lo", "hi"]


def test_every_registered_controller_is_on_the_page() -> None:
    page = controller_parameters_markdown(controller_infos())
    for info in controller_infos():
        assert f"## `{info.name}`" in page
    assert "| `max_gap_s` | `3` |" in page  # actuated's gap, with its meaning
    assert "(reference)" in page


def test_register_map_page_follows_the_profile(tmp_path: Path) -> None:
    page = register_map_markdown()
    assert "# Register map `ampel-v1`" in page
    assert "| `controller_heartbeat` | 1 |" in page
    data = yaml.safe_load(DEFAULT_PROFILE.read_text(encoding="utf-8"))
    data["input_registers"]["controller_heartbeat"]["description"] = "moved for the test"
    changed = parse_register_map(data, "test")
    assert "moved for the test" in register_map_markdown(changed)
    assert "moved for the test" not in page


def test_scenario_catalogue_lists_every_hamm_scenario() -> None:
    entries = registered(HAMM_DIR)
    page = scenarios_markdown(entries)
    for e in entries:
        assert f"| `{e.name}` |" in page
    assert "`westentor`" in page
    assert "`westentor`" not in scenarios_markdown([e for e in entries if e.name != "westentor"])


def test_register_map_page_lists_every_shipped_profile(tmp_path: Path) -> None:
    page = register_maps_markdown()
    assert page.startswith("# Register maps")
    for path in shipped_profiles():
        rmap = load_register_map(path)
        assert f"| `{rmap.profile}`" in page and f"`hil/profiles/{path.name}`" in page
        assert f"## Register map `{rmap.profile}`" in page
    assert shipped_profiles()[0] == DEFAULT_PROFILE and len(shipped_profiles()) >= 2
    assert "| `ampel-v1` (default) |" in page
    assert "### Block `cameras`" in page and "| `cameras.speed` | +3 |" in page
    assert "a camera per lane" in page
    # a new profile file shows up on the page without touching the generator
    extra = tmp_path / "other-v1.yaml"
    extra.write_text(DEFAULT_PROFILE.read_text(encoding="utf-8").replace(
        "profile: ampel-v1", "profile: other-v1"), encoding="utf-8")
    assert "| `other-v1` |" in register_maps_markdown([DEFAULT_PROFILE, extra])
