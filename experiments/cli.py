"""The ``ampel`` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

EXIT_USAGE = 2

log = logging.getLogger("ampel")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands register here)."""
    from experiments.commands import register_all

    parser = _Parser(
        prog="ampel",
        description="Adaptive traffic signal control for Hamm: SUMO scenarios, safe "
                    "controllers, learned policies and hardware-in-the-loop.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    register_all(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``timeout``, batch schedulers, ``kill``) like Ctrl-C while inside.

    Commands then stop the same way on both: workers stopped, finished results written.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ampel`` console script."""
    with sigterm_as_interrupt():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        if not getattr(args, "handler", None):
            if args.command is None:
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            raise CliError(f"ampel {args.command}: choose an action (see 'ampel "
                           f"{args.command} --help')")
        return int(args.handler(args) or 0)
    except (CliError, ValueError) as exc:
        print(f"ampel: error: {exc}".replace("ampel: error: ampel", "ampel"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ampel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
