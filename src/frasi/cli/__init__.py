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
import sys

from frasi.errors import FrasiError

from ._shared import app, err

# Importing a module registers its commands; --help lists them in this order.
COMMAND_MODULES = ("_cmd_encode", "_cmd_similarity", "_cmd_classify", "_cmd_eval", "_cmd_train", "_cmd_cache", "_cmd_backends")
for _module in COMMAND_MODULES:
    importlib.import_module(f".{_module}", __name__)

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map errors to one line on stderr and a stable exit code.

    Usage errors are click's (exit 2); a FrasiError is bad input (exit 2); anything
    else is a bug (exit 1, traceback with FRASI_DEBUG=1).
    """
    root = logging.getLogger("frasi")
    saved = root.handlers[:], root.level, root.propagate
    try:
        app(args=argv, prog_name="frasi", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except FrasiError as exc:
        err.print(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in frasi or a dependency
        if os.environ.get("FRASI_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set FRASI_DEBUG=1 for the traceback)")
        return 1
    finally:
        root.handlers[:], root.level, root.propagate = saved
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
