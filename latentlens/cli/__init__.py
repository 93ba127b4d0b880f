"""`latentlens`: the command line (the console script's entry point is `latentlens.cli:main`; `python -m
latentlens` runs it too). Parses arguments into typed settings (latentlens/cli/arguments.py) and hands them to
the command (latentlens/cli/commands.py): the build (latentlens.build), `serve` (latentlens/cli/serve.py,
uvicorn around the handler's app), `query`, `data`, `publish` and `mlflow-ui`.

A user mistake ends in one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import sys

from latentlens.cli.arguments import parser

__all__ = ["main", "parser"]


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`, a container stop) unwinds like Ctrl-C: temp files are removed
    and MLflow marks the run KILLED instead of leaving it RUNNING forever."""
    import signal

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "build":
        _interrupt_on_sigterm()
    from latentlens.build.data.errors import DataError
    from latentlens.build.progress import configure_logging
    from latentlens.build.settings import SettingsError

    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (DataError, SettingsError) as exc:
        print(f"latentlens: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or port the user named: unreadable, not writable, in use
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"latentlens: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlens: interrupted", file=sys.stderr)
        return 130
