"""Reference pages of the documentation site, generated from the code so they cannot drift.

``docs/gen_pages.py`` (run by ``mkdocs build`` through the gen-files plugin) writes what
these functions return. Each takes its source as an argument, so tests can feed a changed
source and see the page change.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from controllers.registry import ControllerInfo
from hil.registermap import (
    DEFAULT_PROFILE,
    FieldSpec,
    RegisterMap,
    RegisterTable,
    load_register_map,
    shipped_profiles,
)
from scenarios.registry import RegistryEntry


def _cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if text else "—"


def controller_parameters_markdown(infos: Iterable[ControllerInfo]) -> str:
    """One section per controller: its description and a table of its parameters."""
    parts = ["# Controllers and their parameters", "",
             "Generated from the controller registry and the parameter dataclasses in "
             "`controllers/` at build time (`ampel controllers` prints the same). Set any "
             "parameter with `ampel run --param KEY=VALUE` or under `params:` in an "
             "experiment config.", ""]
    for info in infos:
        title = f"## `{info.name}`" + (" (reference)" if info.reference else "")
        parts += [title, "", info.description, "",
                  "| parameter | default | meaning |", "|---|---|---|"]
        for key, default, doc in info.params:
            parts.append(f"| `{key}` | `{_cell(default)}` | {_cell(doc)} |")
        parts.append("")
    return "\n".join(parts)


def _field_row(spec: FieldSpec, address: int | str) -> str:
    kind = (f"enum `{spec.enum}`" if spec.enum else f"bits `{spec.bits}`" if spec.bits
            else f"{16 * spec.words}-bit")
    scale = "" if spec.scale == 1.0 else f"× {spec.scale:g}"
    unit = spec.unit or ""
    rng = f"{spec.min}–{spec.max}"
    if spec.none is not None:
        rng += f" (none = {spec.none})"
    return (f"| `{spec.name}` | {address} | {kind} | {_cell(scale)} | {_cell(unit)} | {rng} "
            f"| {_cell(spec.description)} |")


def _table_markdown(title: str, table: RegisterTable) -> list[str]:
    out = [f"## {title}", "",
           "| register | address | type | scale | unit | raw range | meaning |",
           "|---|---|---|---|---|---|---|"]
    for spec in sorted(table.fields.values(), key=lambda s: s.address):
        out.append(_field_row(spec, spec.address))
    out.append("")
    for block in sorted(table.blocks.values(), key=lambda b: b.address):
        out += [f"### Block `{block.name}`", "",
                f"{block.count} slots of {block.stride} registers from address "
                f"{block.address} (slot *k* starts at {block.address} + *k*·{block.stride}).",
                "", "| field | offset | type | scale | unit | raw range | meaning |",
                "|---|---|---|---|---|---|---|"]
        for spec in sorted(block.fields.values(), key=lambda s: s.address):
            out.append(_field_row(spec, f"+{spec.address}"))
        out.append("")
    return out


def register_map_markdown(register_map: RegisterMap | Path | str | None = None,
                          level: int = 1) -> str:
    """The register map of a HIL profile (default: the shipped ``ampel-v1``) as Markdown;
    ``level`` is the heading level of its title (2 to nest it in another page)."""
    rmap = (register_map if isinstance(register_map, RegisterMap)
            else load_register_map(register_map))
    parts = [f"# Register map `{rmap.profile}`", "",
             f"Generated from `{Path(rmap.source).name if rmap.source else rmap.profile}` at "
             f"build time. Map version {rmap.map_version}, Modbus device id {rmap.device_id}. "
             "Addresses are protocol addresses (0-based, as on the wire); every register is "
             "an unsigned 16-bit word, 32-bit values are high word first; the engineering "
             "value is raw × scale.", ""]
    parts += _table_markdown("Input registers (function code 4, read by the adapter)",
                             rmap.inputs)
    parts += _table_markdown("Holding registers (function codes 3/6/16, written by the "
                             "adapter)", rmap.holding)
    parts += ["## Code tables", ""]
    for table, entries in rmap.codes.items():
        items = ", ".join(f"`{name}` = {value}" for name, value in
                          sorted(entries.items(), key=lambda kv: kv[1]))
        parts.append(f"- **{table}**: {items}")
    parts.append("")
    deeper = "#" * (level - 1)
    return "\n".join(deeper + line if line.startswith("#") else line for line in parts)


def _carries(rmap: RegisterMap) -> str:
    """What a profile carries, in a few words."""
    what = ["signal groups", "loop detectors"]
    if "cameras" in rmap.inputs.blocks:
        what.append("a camera per lane (queue, approaching, speed, valid; `--sensing camera`)")
    bench = [b for b in ("detector_inputs", "camera_inputs") if b in rmap.holding.blocks]
    if bench:
        what.append("test-bench inputs for the bridge (" + ", ".join(f"`{b}`" for b in bench)
                    + ")")
    return ", ".join(what)


def register_maps_markdown(paths: Iterable[Path | str] | None = None) -> str:
    """One page for every HIL profile file in ``paths`` (default: the shipped ones in
    ``hil/profiles/``): an overview table, then each map."""
    maps = [load_register_map(p) for p in (shipped_profiles() if paths is None else paths)]
    parts = ["# Register maps", "",
             "Generated from every profile in `hil/profiles/` at build time. `ampel hil serve`, "
             "`deploy` and `bridge` take one with `--profile FILE` (default "
             f"`{DEFAULT_PROFILE.name}`). A profile with camera registers is a superset of "
             "`ampel-v1` at the same addresses, so a loop-only client still works against it.",
             "", "| profile | file | map version | device id | carries |",
             "|---|---|---|---|---|"]
    for rmap in maps:
        name = Path(rmap.source).name if rmap.source else rmap.profile
        default = " (default)" if name == DEFAULT_PROFILE.name else ""
        parts.append(f"| `{rmap.profile}`{default} | `hil/profiles/{name}` | {rmap.map_version} "
                     f"| {rmap.device_id} | {_cell(_carries(rmap))} |")
    parts.append("")
    for rmap in maps:
        parts.append(register_map_markdown(rmap, level=2))
    return "\n".join(parts)


def scenarios_markdown(entries: Iterable[RegistryEntry]) -> str:
    """The scenario catalogue: name, title and the source folder of every registered scenario."""
    parts = ["# Scenario catalogue", "",
             "Generated from the scenario registry at build time (`ampel scenarios` prints "
             "the same list, plus the user's own scenarios).", "",
             "| name | title | sources | card |", "|---|---|---|---|"]
    for e in entries:
        folder = e.folder
        rel = "/".join(folder.parts[-3:]) if len(folder.parts) >= 3 else str(folder)
        card = "yes" if (folder / "CARD.md").exists() else "—"
        parts.append(f"| `{e.name}` | {_cell(e.title)} | `{rel}/` | {card} |")
    parts.append("")
    return "\n".join(parts)
