"""``ampel controllers``: list the controllers and their parameters."""

from __future__ import annotations

import argparse


def _cmd_controllers(args: argparse.Namespace) -> int:
    from controllers.registry import controller_infos

    infos = controller_infos()
    width = max(len(c.name) for c in infos)
    for c in infos:
        print(f"{c.name:<{width}}  {c.description}")
        params = ", ".join(f"{k}={v}" for k, v, _ in c.params)
        print(f"{'':<{width}}  parameters: {params}")
    return 0



def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel controllers``."""
    p = sub.add_parser("controllers", help="list the controllers and their parameters",
                       description="List every registered controller with a one-line "
                       "description and its parameters with their defaults (set them "
                       "with --param KEY=VALUE).")
    p.set_defaults(handler=_cmd_controllers)

