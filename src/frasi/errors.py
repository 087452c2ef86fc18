"""The one exception tree of frasi.

    FrasiError                 every error frasi raises on purpose
    ├── InputError             bad user input: empty text, unreadable file, missing column
    ├── ModelNotFoundError     a model name or path that resolves to nothing
    ├── ModelLoadError         a model folder that exists but is corrupt or partial
    ├── OutputError            an output path that cannot be written
    └── MissingExtraError      an optional dependency is not installed

Each message says what was received, what was expected, and how to fix it. The CLI
prints ``str(error)`` on one line and exits with code 2.
"""

from __future__ import annotations


class FrasiError(Exception):
    """Base class of every error frasi raises on purpose."""


class InputError(FrasiError, ValueError):
    """The input (texts, files, columns, arguments) is not usable."""


class ModelNotFoundError(FrasiError, LookupError):
    """A model name or path resolves to nothing."""


class ModelLoadError(FrasiError):
    """A model folder exists but cannot be loaded (corrupt, partial, wrong format)."""


class OutputError(FrasiError, OSError):
    """An output path cannot be written."""


class MissingExtraError(FrasiError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        if extra:
            super().__init__(f"{purpose} needs the optional package {package!r}, which is not installed; "
                             f"install it with: pip install 'frasi[{extra}]'")
        else:  # a dependency of frasi itself, removed or broken since
            super().__init__(f"{purpose} needs the package {package!r}, a dependency of frasi that is not "
                             "installed; reinstall frasi")
        self.package = package
        self.extra = extra


def require(module: str, *, extra: str, purpose: str):
    """Import and return an optional module, or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc


def require_installed(module: str, *, extra: str, purpose: str) -> None:
    """Raise MissingExtraError unless ``module`` is installed, without importing it (an import can take a
    tenth of a second that a command may not need yet)."""
    import importlib.util
    import sys

    if module in sys.modules:
        if sys.modules[module] is None:  # imports of it are blocked
            raise MissingExtraError(module.split(".")[0], extra, purpose)
        return
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise MissingExtraError(module.split(".")[0], extra, purpose)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty:
    what a one-line frasi error quotes from a library's (often multi-line) error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_choice(name: str, value: object, choices: tuple[str, ...] | list[str]) -> None:
    """InputError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
