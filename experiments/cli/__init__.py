"""The ``ampel`` command line: the parser, error handling and one module per sub-command.

Every sub-command module has a ``register(sub)`` function that adds its parser; the
handlers parse arguments and print, the decisions live in the library packages.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from experiments.cli import (
    controllers,
    demo,
    experiment,
    hil,
    osm_calibrate,
    plan,
    report,
    run,
    scenarios,
    train,
)
from signals.errors import AmpelError, ConfigError

EXIT_BUG = 1
EXIT_USAGE = 2

log = logging.getLogger("ampel")


class CliError(ConfigError):
    """A command-line usage error: printed as one line, exit code 2."""


#: the sub-command modules, in the order of ``ampel --help``; ``osm_calibrate`` adds
#: ``scenarios import-osm`` under ``scenarios``, so it comes after it
COMMANDS = (scenarios, controllers, run, experiment, report, demo, osm_calibrate, hil, train,
            plan)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands register here)."""
    parser = _Parser(
        prog="ampel",
        description="Adaptive traffic signal control for Hamm: SUMO scenarios, safe "
                    "controllers, learned policies and hardware-in-the-loop.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages; show the traceback of an internal error")
    parser.add_argument("--log-file", metavar="PATH", default=None,
                        help="also write debug messages and internal-error tracebacks here")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.register(sub)
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


@contextlib.contextmanager
def _logging_to(verbose: bool, log_file: logging.Handler | None) -> Iterator[None]:
    """Messages to stderr (debug under ``-v``, else warnings) and all of them to ``log_file``.

    The handlers and level are restored on leaving, so in-process calls do not pile up.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    if not (verbose or log_file):
        yield
        return
    fmt = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if log_file:
        log_file.setLevel(logging.DEBUG)
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(log_file)
        root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for added in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(added)
            added.close()
        root.setLevel(level)


def _report_bug(exc: BaseException, verbose: bool) -> None:
    """One line for a bug; the traceback under ``-v`` and in any log file."""
    import traceback

    print(f"ampel: internal error: {type(exc).__name__}: {exc} — please report it; "
          "run with -v for the traceback", file=sys.stderr)
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "internal error", (),
                            (type(exc), exc, exc.__traceback__))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the chosen sub-command's handler."""
    if not getattr(args, "handler", None):
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        raise CliError(f"ampel {args.command}: choose an action (see 'ampel "
                       f"{args.command} --help')")
    return int(args.handler(args) or 0)


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(args_list)
        log_file = _open_log(args.log_file)
    except BaseException as exc:  # sorted out by _exit_code
        return _exit_code(exc, "-v" in args_list or "--verbose" in args_list)
    if not (args.verbose or log_file):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with _logging_to(args.verbose, log_file):
        try:
            return _dispatch(parser, args)
        except BaseException as exc:  # sorted out by _exit_code
            return _exit_code(exc, args.verbose)


def _open_log(path: str | None) -> logging.Handler | None:
    """The ``--log-file`` handler (appending), or None."""
    if path is None:
        return None
    try:
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--log-file {path}: cannot write there ({exc.strerror})") from exc


def _exit_code(exc: BaseException, verbose: bool) -> int:
    """Report ``exc`` and return the exit code: 2 for a user's mistake, 1 for a bug."""
    if isinstance(exc, AmpelError):
        print(f"ampel: error: {exc}".replace("ampel: error: ampel", "ampel"), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        print("ampel: interrupted", file=sys.stderr)
        return 130
    if not isinstance(exc, Exception):  # SystemExit from --help and the like
        raise exc
    _report_bug(exc, verbose)
    return EXIT_BUG

