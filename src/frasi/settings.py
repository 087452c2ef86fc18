"""frasi's defaults, set once: the model, the backend and the CPU threads.

Each setting comes from the first of these that gives it:

1. a flag (``--model``, ``--backend``, ``--threads``) or an argument in Python;
2. the environment: ``FRASI_MODEL``, ``FRASI_BACKEND``, ``FRASI_THREADS``;
3. the user config file, ``$FRASI_CONFIG`` or else ``$XDG_CONFIG_HOME/frasi/config.toml``
   (``~/.config/frasi/config.toml``), read with the standard library's tomllib::

       model = "all-MiniLM-L6-v2"
       backend = "openvino-int8"
       threads = 2

4. frasi's built-in default: ``multilingual-e5-small``, ``auto``, every available CPU.

``frasi config`` shows each setting with where it came from. A bad value (an unknown
backend, a threads count that is not a positive integer, an unknown key in the file)
is an InputError that names its source (a backend's name is checked by Encoder.load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

DEFAULTS: dict[str, Any] = {"model": "multilingual-e5-small", "backend": "auto", "threads": None}
ENVIRONMENT = {"model": "FRASI_MODEL", "backend": "FRASI_BACKEND", "threads": "FRASI_THREADS"}


@dataclass(frozen=True)
class Setting:
    """One setting's value and where it came from (``flag``, ``FRASI_X``, the config file, or ``built-in``)."""

    name: str
    value: Any
    source: str


def config_path() -> Path:
    """The user config file (it may not exist)."""
    if os.environ.get("FRASI_CONFIG"):
        return Path(os.environ["FRASI_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "frasi" / "config.toml"


def _read_file() -> tuple[dict[str, Any], Path]:
    import tomllib

    path = config_path()
    if not path.is_file():
        return {}, path
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the frasi config file {path} ({exc}); fix or remove it") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the frasi config file {path} is not valid TOML ({exc}); fix it") from None
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise InputError(f"the frasi config file {path} has unknown setting(s) {', '.join(map(repr, unknown))}; "
                         f"known settings: {', '.join(DEFAULTS)}")
    return values, path


def _checked(name: str, value: Any, source: str | None) -> Any:
    """``value`` checked; ``source`` (None: a flag or argument) is named in the error."""
    where = f"{name} from {source}" if source else name
    if name == "threads":
        if isinstance(value, str) and source:
            try:
                value = int(value.strip())
            except ValueError:
                raise InputError(f"{where} must be a positive integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{where} must be a positive integer, got {value!r}")
        return value
    if isinstance(value, os.PathLike) and name == "model":
        return value
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where} must be a non-empty string, got {value!r}")
    return value  # a backend's name is checked where backends are known (Encoder.load), with its source


def settings(**flags: Any) -> dict[str, Setting]:
    """Every setting, resolved: ``flags`` (None: not given) over the environment over the file over built-ins."""
    unknown = sorted(set(flags) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}")
    file_values: dict[str, Any] | None = None
    file_path = config_path()
    out = {}
    for name, default in DEFAULTS.items():
        if flags.get(name) is not None:
            out[name] = Setting(name, _checked(name, flags[name], None), "flag")
            continue
        variable = ENVIRONMENT[name]
        if os.environ.get(variable):
            out[name] = Setting(name, _checked(name, os.environ[variable], variable), variable)
            continue
        if file_values is None:
            file_values, file_path = _read_file()
        if name in file_values:
            out[name] = Setting(name, _checked(name, file_values[name], str(file_path)), str(file_path))
            continue
        out[name] = Setting(name, default, "built-in")
    return out


def setting(name: str, flag: Any = None) -> Any:
    """The value of one setting: ``flag`` when given, else the environment, the file or the built-in default."""
    return settings(**{name: flag})[name].value
