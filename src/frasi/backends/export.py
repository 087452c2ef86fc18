"""Export a model once for a runtime backend, cache the result, and keep it fresh.

The first use of a runtime backend exports the model (:mod:`frasi.backends.tracing` for
``onnx`` and ``openvino``; :mod:`frasi.backends.int8` for their int8 variants, made from
those) and checks it against torch on probe texts: an exact backend must agree within
1e-4, an int8 one within cosine 0.9 (a sanity bound; ``frasi backends check`` measures
the real agreement). Exports live in frasi's cache directory::

    backends/<model>-<hash of the folder path>/<runtime>-<runtime version>/<variant>/
        model.onnx | model.xml + model.bin, tokenizer.json, reference.npy, manifest.json

written into a temporary folder and renamed into place under a file lock. The manifest
records the size, mtime and SHA-256 of every source file, the runtime version, frasi's
export format and the model's settings (prompts, maximum length, normalisation), so
loading a cached export needs neither torch nor transformers. A manifest that no longer
matches (weights changed, runtime upgraded, files damaged) means the export is stale and
is redone. An export that fails is recorded beside its folder and not tried again until
the model's files or the runtime change.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import logging
from pathlib import Path
from typing import Any

from .._fs import atomic_dir, atomic_file, file_lock
from ..errors import FrasiError, MissingExtraError, ModelLoadError, OutputError, first_line, require
from ..fingerprint import differs, file_record, folder_changed, folder_records
from ..sources import ResolvedModel, cache_dir
from ..versions import version
from . import BACKENDS, BackendSpec
from .artefact import EXPORT_FORMAT, MANIFEST, Artefact, ModelNotExportable
from .int8 import compress_openvino, quantize_onnx
from .tracing import export_float32

logger = logging.getLogger(__name__)

FLOAT32_OF = {"onnxruntime": "onnx", "openvino": "openvino"}  # the export an int8 variant is made from


def runtime_version(runtime: str) -> str:
    """The installed version of a runtime, from its distribution's metadata (no import) or, for a build
    installed under a name frasi does not know, from the module itself."""
    found = version(runtime)
    if found is not None:
        return found
    try:
        return str(importlib.import_module(runtime).__version__)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot tell which version of {runtime} is installed ({exc}); reinstall it") from None


def artefact_folder(resolved: ResolvedModel, spec: BackendSpec, *, cache_folder: Path | None = None) -> Path:
    """Where the export of ``resolved`` for ``spec`` lives (it may not exist)."""
    key = hashlib.sha256(str(resolved.path).encode("utf-8")).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in resolved.name)[:60] or "model"
    return ((cache_folder or cache_dir()) / "backends" / f"{safe}-{key}"
            / f"{spec.runtime}-{runtime_version(spec.runtime)}"
            / spec.variant)


def load_artefact(resolved: ResolvedModel, spec: BackendSpec, *, cache_folder: Path | None = None) -> Artefact:
    """Return the cached export of ``resolved`` for ``spec``, exporting it first if missing or stale.

    An export that failed is not tried again on every use: its failure is recorded beside
    the export's folder and raised again until the model's files or the runtime change.
    """
    folder = artefact_folder(resolved, spec, cache_folder=cache_folder)
    manifest, problem = _check(folder, resolved, spec)
    if manifest is not None and problem is None:
        logger.debug("reusing the %s export in %s", spec.name, folder)
        return Artefact(folder, manifest)
    _raise_recorded_failure(folder, resolved)
    lock = (cache_folder or cache_dir()) / "locks" / f"backend-{folder.parent.parent.name}-{spec.name}.lock"
    try:
        with file_lock(lock):
            manifest, problem = _check(folder, resolved, spec)  # another process may have exported it
            if manifest is not None and problem is None:
                return Artefact(folder, manifest)
            if folder.exists():
                logger.warning("the %s export of %s in %s is stale (%s); exporting it again",
                               spec.name, resolved.name, folder, problem)
            else:
                logger.info("exporting %s for the %s backend: once, about half a minute; cached in %s",
                            resolved.name, spec.name, folder)
            try:
                return Artefact(folder, _build(folder, resolved, spec, cache_folder=cache_folder))
            except (ModelLoadError, MissingExtraError) as exc:
                if not isinstance(exc, MissingExtraError):
                    _record_failure(folder, resolved, exc)
                raise
    except FrasiError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write the {spec.name} export to {folder} ({exc}); set FRASI_CACHE to a "
                          "writable folder") from exc
    except Exception as exc:
        reason = first_line(exc)
        error = ModelLoadError(f"cannot export {resolved.name} for the {spec.name} backend ({type(exc).__name__}: "
                               f"{reason}); use backend='torch'")
        _record_failure(folder, resolved, error)
        raise error from exc


def _failure_file(folder: Path) -> Path:
    return folder.with_name(f"{folder.name}.failed.json")


def _record_failure(folder: Path, resolved: ResolvedModel, error: ModelLoadError) -> None:
    record = {"format": EXPORT_FORMAT, "error": str(error), "not_exportable": isinstance(error, ModelNotExportable),
              "source": folder_records(resolved.path)}
    try:
        with atomic_file(_failure_file(folder), what="export failure record") as tmp:
            tmp.write_text(json.dumps(record), encoding="utf-8")
    except FrasiError as exc:
        logger.debug("could not record the export failure: %s", exc)


def _raise_recorded_failure(folder: Path, resolved: ResolvedModel) -> None:
    """Raise the error of the last export of this model for this runtime if it failed and nothing changed since."""
    file = _failure_file(folder)
    if not file.is_file():
        return
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        stale = record["format"] != EXPORT_FORMAT or folder_changed(resolved.path, record["source"]) is not None
    except (OSError, ValueError, KeyError, TypeError):
        stale = True
    if stale:
        file.unlink(missing_ok=True)
        return
    kind = ModelNotExportable if record.get("not_exportable") else ModelLoadError
    raise kind(record["error"])


# ---------------------------------------------------------------- freshness


def _check(folder: Path, resolved: ResolvedModel, spec: BackendSpec) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, None) when the export in ``folder`` is usable, else (manifest or None, why not)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no export yet"
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict):
        return None, "unreadable manifest (not a mapping)"
    expected = {"format": EXPORT_FORMAT, "backend": spec.name, "runtime_version": runtime_version(spec.runtime),
                "recipe": spec.recipe}
    for key, value in expected.items():
        if manifest.get(key) != value:
            return manifest, f"{key} is {manifest.get(key)!r}, expected {value!r}"
    try:
        return manifest, _files_damaged(folder, manifest["files"]) or folder_changed(
            resolved.path, manifest["source"]["files"])
    except (KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable manifest ({type(exc).__name__}: {exc})"


def _files_damaged(folder: Path, recorded: dict[str, dict[str, Any]]) -> str | None:
    """Which exported file is missing or no longer what was written, or None. A file whose
    mtime moved is hashed again (manifests from before per-file hashes check sizes only)."""
    for name, entry in recorded.items():
        file = folder / name
        difference = differs(file, entry) if file.is_file() else "size"
        if difference == "size":
            return f"{name} is missing or damaged"
        if difference == "content":
            return f"{name} is damaged (its SHA-256 changed)"
    return None


# ---------------------------------------------------------------- building


def _build(folder: Path, resolved: ResolvedModel, spec: BackendSpec, *, cache_folder: Path | None) -> dict[str, Any]:
    """Export into a temporary folder beside ``folder`` and rename it into place; return the manifest."""
    if spec.export_needs is not None:  # before any export: loading the result later needs only the runtime
        module, extra = spec.export_needs
        require(module, extra=extra, purpose=f"the {spec.name} backend's export")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(folder, what=f"{spec.name} export", replace=True) as tmp:
        if spec.variant == "int8":  # built from the same runtime's float32 export
            base = load_artefact(resolved, BACKENDS[FLOAT32_OF[spec.runtime]], cache_folder=cache_folder)
            details = (quantize_onnx if spec.runtime == "onnxruntime" else compress_openvino)(base, tmp)
            settings, source = base.settings, base.manifest["source"]
        else:
            details, settings = export_float32(resolved, spec, tmp)
            source = {"path": str(resolved.path), "files": folder_records(resolved.path)}
        manifest = {
            "format": EXPORT_FORMAT, "backend": spec.name, "runtime": spec.runtime,
            "runtime_version": runtime_version(spec.runtime), "variant": spec.variant, "recipe": spec.recipe,
            "frasi_version": version("frasi"), "created": _dt.datetime.now(_dt.UTC).isoformat(),
            "export": details, "model": settings, "source": source,
            "files": {p.name: file_record(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("exported %s for the %s backend into %s", resolved.name, spec.name, folder)
    return manifest
