"""Reference pages of the documentation site, generated from the code so they cannot drift.

``docs/gen_pages.py`` (run by ``mkdocs build`` through the gen-files plugin) writes what
these functions return. Each takes its source as an argument, so tests can feed a changed
source and see the page change.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hil.registermap import FieldSpec, RegisterMap, RegisterTable, load_register_map
from scenarios.registry import RegistryEntry


def attribute_docs(cls: type) -> dict[str, str]:
    """Descriptions of a dataclass's fields from the ``Attributes:`` section of its docstring.

    Google style: ``name: text`` on one line, continuation lines indented deeper;
    ``a, b: text`` documents several fields at once.
    """
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    base_indent: int | None = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if base_indent is None:
            base_indent = indent
        if indent < base_indent:
            break
        match = re.match(r"^([\w, ]+):\s*(.*)$", line.strip())
        if indent == base_indent and match:
            names = [n.strip() for n in match.group(1).split(",")]
            for n in names:
                out[n] = match.group(2).strip()
        elif names:
            for n in names:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return out


def parameter_rows(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default, description) of every public field of a parameter dataclass."""
    docs = attribute_docs(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        rows.append((f.name, default, docs.get(f.name, "")))
    return rows


def _cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if text else "—"


def _format_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def controller_parameters_markdown(controllers: Iterable[tuple[str, str, type | None]]) -> str:
    """One section per controller: its description and a table of its parameters.

    ``controllers`` holds (name, one-line description, parameter dataclass or None).
    """
    parts = ["# Controller parameters", "",
             "Generated from the parameter dataclasses in `controllers/` at build time. Set "
             "any of them with `ampel run --param KEY=VALUE` or under `params:` in an "
             "experiment config.", ""]
    for name, description, params in controllers:
        parts += [f"## `{name}`", "", description, ""]
        if params is None:
            parts += ["No parameters of its own.", ""]
            continue
        parts += ["| parameter | default | meaning |", "|---|---|---|"]
        for key, default, doc in parameter_rows(params):
            parts.append(f"| `{key}` | `{_format_default(default)}` | {_cell(doc)} |")
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


def register_map_markdown(register_map: RegisterMap | Path | str | None = None) -> str:
    """The register map of a HIL profile (default: the shipped ``ampel-v1``) as Markdown."""
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
