"""The ``frasi`` command line: a thin layer over the public API.

Every command parses its arguments, checks its output path before any slow work, calls
the library, writes its output atomically and prints a summary. Conventions shared by
every command: positional inputs, ``--model``, ``--output`` (format from the extension),
``--json`` (machine-readable stdout), ``--quiet``. Exit codes: 0 ok, 2 bad input or
usage, 1 internal error.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from typing import Any

from frasi.errors import FrasiError

from ._shared import app, err, shown

# Importing a module registers its commands; --help lists them in this order.
COMMAND_MODULES = ("_cmd_encode", "_cmd_similarity", "_cmd_classify", "_cmd_eval", "_cmd_train", "_cmd_cache",
                   "_cmd_backends", "_cmd_corpus", "_cmd_serve")
for _module in COMMAND_MODULES:
    importlib.import_module(f".{_module}", __name__)

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map errors to one line on stderr and a stable exit code.

    Usage errors (unknown option, invalid value) and a FrasiError are bad input (exit 2);
    anything else is a bug (exit 1, traceback with FRASI_DEBUG=1).
    """
    import typer

    root = logging.getLogger("frasi")
    saved = root.handlers[:], root.level, root.propagate
    on_term = _exit_on_sigterm()
    try:
        code = app(args=argv, prog_name="frasi", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into exit code 130 without a word
            err.print("interrupted")
    except SystemExit as exc:
        if exc.code == _TERMINATED:
            err.print("terminated")
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except FrasiError as exc:
        err.print(f"error: {shown(str(exc))}")
        return 2
    except typer.TyperException as exc:  # click's usage errors: one line too, with where to find help
        # `frasi` or `frasi classify` alone: the help (typer does not export the class to test against)
        if type(exc).__name__ == "NoArgsIsHelpError":
            err.print(exc.format_message())
            return exc.exit_code
        context = getattr(exc, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        err.print(f"error: {exc.format_message()}{hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except typer.Abort:  # end of input where a command read stdin
        err.print("error: input ended early")
        return 1
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in frasi or a dependency
        if os.environ.get("FRASI_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {shown(str(exc))} (set FRASI_DEBUG=1 for the traceback)")
        return 1
    finally:
        root.handlers[:], root.level, root.propagate = saved
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return code if isinstance(code, int) else 0  # click returns an exit code (e.g. 0 after --help) or None


_TERMINATED = 128 + signal.SIGTERM


def _exit_on_sigterm() -> Any:
    """Turn SIGTERM (timeout, Slurm, systemd) into SystemExit, so that outputs being written are
    cleaned up as on Ctrl-C; return the previous handler (None when not in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(_TERMINATED)

    previous = signal.signal(signal.SIGTERM, terminate)
    return signal.SIG_DFL if previous is None else previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
