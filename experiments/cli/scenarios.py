"""``ampel scenarios``: list the registered scenarios."""

from __future__ import annotations

import argparse


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from scenarios.registry import problems, registered

    entries = registered()
    broken = problems()
    width = max([len(e.name) for e in entries] + [len(b.name) for b in broken], default=4)
    print(f"{'NAME':<{width}}  TITLE")
    for e in entries:
        print(f"{e.name:<{width}}  {e.title}")
    for b in broken:
        print(f"{b.name:<{width}}  NOT USABLE: {b.error}")
    return 0



def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel scenarios``."""
    p = sub.add_parser("scenarios", help="list the registered scenarios",
                       description="List the registered Hamm scenarios.")
    p.set_defaults(handler=_cmd_scenarios)

