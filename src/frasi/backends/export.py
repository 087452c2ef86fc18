"""Export a model once for a runtime backend, cache the result, and reuse it.

An export loads the model folder with sentence-transformers (torch, no network), traces
the whole stack (Transformer -> Pooling -> [Dense] -> [Normalize]) to ONNX, and then per
backend:

* ``onnx``: fuses attention, LayerNorm and GELU with ONNX Runtime's transformer optimizer;
* ``onnx-int8``: quantizes part of the ``onnx`` graph's weight matmuls to int8 (dynamic,
  weights per channel) and stores the embedding tables in int8 (e5's 250k-token table:
  384 MB -> 96 MB). What stays float32 was measured to lose the most (STSb and cosine to
  torch, ``benchmarks/results/int8_recipe-avx2.json``): attention (the fused QKV op), the
  matmuls that read a GELU/ReLU output, and every matmul of the first and the last layer.
  So int8 takes the middle layers' attention-output and FFN-up matmuls;
* ``openvino``: converts the plain ONNX graph to OpenVINO IR, float32 weights;
* ``openvino-int8``: compresses the ``openvino`` export's weights to int8 with NNCF
  (data-free, per output channel); the CPU plugin quantizes activations as it runs
  (:mod:`frasi.backends.openvino`).

Every export is checked against torch on a few probe texts before it is kept: an exact
backend must agree within 1e-4, an int8 one within cosine 0.9 (a sanity bound; see
``frasi backends check`` for the real agreement).

Artefacts live in frasi's cache directory::

    backends/<model>-<hash of the folder path>/<runtime>-<runtime version>/<variant>/
        model.onnx | model.xml + model.bin, tokenizer.json, reference.npy, manifest.json

written into a temporary folder and renamed into place under a file lock. The manifest
records the size, mtime and SHA-256 of every source file, the runtime version, frasi's
export format and the model's settings (prompts, maximum length, normalisation), so
loading a cached export needs neither torch nor transformers. A manifest that no longer
matches (weights changed, runtime upgraded, files damaged) means the export is stale and
is redone.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import io
import json
import logging
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._fs import atomic_dir, atomic_file, file_lock
from ..errors import FrasiError, MissingExtraError, ModelLoadError, OutputError, first_line, require
from ..fingerprint import differs, file_record, folder_changed, folder_records
from ..loading import load_sentence_transformer, settings_of
from ..probes import PROBE_TEXTS
from ..similarity import similarity_pairwise
from ..sources import ResolvedModel, cache_dir
from ..versions import version, versions
from . import BACKENDS, BackendSpec
from .compiled import open_backend, pad_batch
from .tokenizer import SENTENCEPIECE_FILE, FastTokenizer, build_sentencepiece

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 4  # bump when the export recipe changes: older exports become stale
OPSET = 17
MANIFEST = "manifest.json"
MODEL_FILES = {"onnxruntime": ("model.onnx",), "openvino": ("model.xml", "model.bin")}
EMBEDDINGS_FILE = "embeddings.npy"  # OpenVINO exports: the word-embedding table, outside the graph
FLOAT32_OF = {"onnxruntime": "onnx", "openvino": "openvino"}  # the export an int8 variant is made from
EXACT_TOLERANCE = 1e-4
INT8_MIN_COSINE = 0.9
ACTIVATIONS = ("Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Relu")
LAYER_PATTERN = re.compile(r"(?:^|[/._])(?:layer|layers|block|blocks)[/._](\d+)(?:[/._]|$)")  # encoder/layer.3/...


@dataclass(frozen=True)
class Artefact:
    """An exported model on disk, checked against its manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def model_file(self) -> Path:
        return self.folder / MODEL_FILES[self.manifest["runtime"]][0]

    @property
    def settings(self) -> dict[str, Any]:
        return self.manifest["model"]


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


class ModelNotExportable(ModelLoadError):
    """The model's stack cannot run on a runtime backend (not a transformer, no fast tokenizer, ...)."""


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
            details = (_quantize_from if spec.runtime == "onnxruntime" else _compress_openvino_from)(base, tmp)
            settings, source = base.settings, base.manifest["source"]
        else:
            details, settings = _export_fp32(resolved, spec, tmp)
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


def _steps(total: int, what: str) -> Any:
    """A progress bar over an export's steps (on a terminal, at frasi's INFO level)."""
    from tqdm.auto import tqdm

    from ..progress import show_progress_default

    return tqdm(total=total, desc=what, unit="step", disable=not show_progress_default(), leave=False,
                bar_format="{desc}: {n}/{total} steps, {elapsed} elapsed, {postfix}")


def _export_fp32(resolved: ResolvedModel, spec: BackendSpec, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trace the model to ONNX (and fuse or convert it for ``spec``) in ``out``; return (details, settings)."""
    with _steps(5, f"exporting {resolved.name} for {spec.name}") as bar:
        bar.set_postfix_str("loading with torch")
        st = load_sentence_transformer(resolved, "cpu")
        _check_exportable(st, resolved)
        settings = settings_of(st)
        bar.update()
        bar.set_postfix_str("tokenizer and reference vectors")
        st.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
        settings["sentencepiece"] = _sentencepiece(out, settings)
        reference = st.encode(list(PROBE_TEXTS), prompt="", batch_size=8, convert_to_numpy=True,
                              show_progress_bar=False)
        np.save(out / "reference.npy", reference.astype(np.float32), allow_pickle=False)
        details: dict[str, Any] = {"opset": OPSET, **versions(("torch", "transformers", "sentence-transformers"))}
        bar.update()
        bar.set_postfix_str("tracing to ONNX")
        raw = out / "raw.onnx"
        # OpenVINO keeps the word embeddings out of the graph: compiled, e5's 384 MB table would be copied into
        # the process; read from a memory-mapped file, only the rows of the tokens seen are
        outside = spec.runtime == "openvino" and _save_embedding_table(st, out)
        _trace(st, raw, resolved, embeddings_outside=outside)
        details["embeddings"] = f"{EMBEDDINGS_FILE}, memory-mapped" if outside else "in the graph"
        bar.update()
        bar.set_postfix_str(f"building the {spec.runtime} model")
        details["check"] = _runtime_model(raw, out, spec, settings, reference, st, resolved, details)
        bar.update(2)
    return details, settings


def _runtime_model(raw: Path, out: Path, spec: BackendSpec, settings: dict[str, Any], reference: np.ndarray,
                   st: SentenceTransformer, resolved: ResolvedModel, details: dict[str, Any]) -> dict[str, Any]:
    """Turn the traced ``raw`` graph into the runtime's model (fused for ONNX Runtime, IR for OpenVINO) and check
    it against torch's ``reference`` vectors."""
    model_file = out / MODEL_FILES[spec.runtime][0]
    if spec.runtime == "onnxruntime":
        details["fused"] = _fuse(raw, model_file, st)
        if details["fused"]:
            try:
                check = _verify(out, spec, settings, reference, strict=False)
            except Exception as exc:
                logger.warning("ONNX Runtime cannot run the fused graph of %s (%s); using the unfused graph "
                               "(slower)", resolved.name, first_line(exc))
                details["fused"] = False
            else:
                if not check["ok"]:
                    logger.warning("the fused graph of %s disagrees with torch (max abs diff %.2g); using the "
                                   "unfused graph (slower)", resolved.name, check["max_abs_diff"])
                    details["fused"] = False
        if not details["fused"]:
            os.replace(raw, model_file)
    else:
        _to_openvino(raw, out)
    raw.unlink(missing_ok=True)
    return _verify(out, spec, settings, reference, strict=True)


def _check_exportable(st: SentenceTransformer, resolved: ResolvedModel) -> None:
    """Raise ModelNotExportable for model stacks the runtime backends cannot run."""
    first = st[0]
    if type(first).__name__ != "Transformer" or not hasattr(first, "auto_model"):
        raise ModelNotExportable(f"{resolved.name} starts with {type(first).__name__}, not a Transformer; the "
                             "runtime backends export transformer models only: use backend='torch'")
    for module in st:
        if getattr(module, "include_prompt", True) is False:
            raise ModelNotExportable(f"{resolved.name} pools without its prompt tokens (include_prompt=False), which "
                                 "the runtime backends do not export; use backend='torch'")
    if not getattr(st.tokenizer, "is_fast", False):
        raise ModelNotExportable(f"{resolved.name} has no fast tokenizer (tokenizer.json), which the runtime backends "
                             "need; use backend='torch'")


def _trace(st: SentenceTransformer, path: Path, resolved: ResolvedModel, *, embeddings_outside: bool = False) -> None:
    """Trace ``st`` to ONNX with dynamic batch and length: token ids and mask in, sentence embedding out; or,
    with ``embeddings_outside``, the rows of the word-embedding table (``inputs_embeds``) instead of the ids."""
    import torch

    uses_types = "token_type_ids" in st.tokenizer.model_input_names
    auto = st[0].auto_model
    table = auto.get_input_embeddings()

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            if not embeddings_outside:
                features = {"input_ids": inputs, "attention_mask": attention_mask}
                if uses_types:
                    features["token_type_ids"] = torch.zeros_like(inputs)
                return self.st(features)["sentence_embedding"]
            kwargs = {"token_type_ids": torch.zeros_like(attention_mask)} if uses_types else {}
            hidden = auto(inputs_embeds=inputs, attention_mask=attention_mask, **kwargs).last_hidden_state
            features = {"token_embeddings": hidden, "attention_mask": attention_mask}
            for module in list(self.st)[1:]:  # pooling, Dense, Normalize
                features = module(features)
            return features["sentence_embedding"]

    # A padded second row, so the trace keeps the attention mask (an all-ones mask may be skipped).
    ids = torch.tensor(st.tokenizer(["hola mundo y buenos días", "hola"], padding=True)["input_ids"])
    mask = (torch.arange(ids.shape[1])[None, :] < torch.tensor([[ids.shape[1]], [3]])).long()
    name = "inputs_embeds" if embeddings_outside else "input_ids"
    inputs = table(ids).detach() if embeddings_outside else ids
    attention = getattr(auto.config, "_attn_implementation", None)
    try:
        auto.set_attn_implementation("eager")  # the pattern ONNX Runtime's fusions recognise
    except (AttributeError, ValueError):
        attention = None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Graph().eval(), (inputs, mask), str(path), input_names=[name, "attention_mask"],
                output_names=["sentence_embedding"], opset_version=OPSET, dynamo=False,
                dynamic_axes={name: {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "sentence_embedding": {0: "batch"}},
            )
    except FrasiError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"cannot export {resolved.name} to ONNX: {reason}; use backend='torch'") from exc
    finally:
        if attention is not None:
            auto.set_attn_implementation(attention)


def _save_embedding_table(st: SentenceTransformer, out: Path) -> bool:
    """Write the model's word-embedding table to ``embeddings.npy`` (float32), when it is a plain lookup table
    that the runtime can read row by row (memory-mapped: only the rows of the tokens seen are loaded)."""
    import torch

    table = st[0].auto_model.get_input_embeddings()
    if type(table) is not torch.nn.Embedding:
        return False
    np.save(out / EMBEDDINGS_FILE, table.weight.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    return True


def _fuse(raw: Path, out: Path, st: SentenceTransformer) -> bool:
    """Fuse attention / LayerNorm / GELU with ONNX Runtime's optimizer; False (graph left as is) if it fails."""
    config = st[0].auto_model.config
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings(), quiet_tools():
            warnings.simplefilter("ignore")
            model = optimize_model(str(raw), model_type="bert", opt_level=0,
                                   num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                                   hidden_size=int(getattr(config, "hidden_size", 0) or 0))
            model.save_model_to_file(str(out))
            fused = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
        logger.debug("fused operators: %s", fused)
        return True
    except Exception as exc:
        logger.warning("ONNX Runtime could not fuse the graph (%s); using it unfused (slower)", exc)
        out.unlink(missing_ok=True)
        return False


def int8_plan(graph: Any) -> tuple[list[str], list[str]]:
    """Split the weight matmuls of an ONNX graph into (quantized to int8, kept float32).

    Kept float32: a matmul that reads a GELU/ReLU output (the FFN down-projection) and
    every matmul of the first and the last layer (layer index from the node name,
    e.g. ``encoder/layer.11/...``). Fused ``Attention`` ops are never quantized, and a
    matmul of two activations (unfused attention scores) is not a weight matmul.
    """
    weights = {init.name for init in graph.initializer}
    producer = {output: node.op_type for node in graph.node for output in node.output}
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in weights]
    layers = {n.name: int(m.group(1)) for n in matmuls if (m := LAYER_PATTERN.search(n.name))}
    edges = {min(layers.values()), max(layers.values())} if layers else set()
    quantized, kept = [], []
    for node in matmuls:
        keep = producer.get(node.input[0]) in ACTIVATIONS or layers.get(node.name) in edges
        (kept if keep else quantized).append(node.name)
    return quantized, kept


def _quantize_from(base: Artefact, out: Path) -> dict[str, Any]:
    """Quantize the fp32 ONNX export ``base`` into ``out``; return the details for the manifest."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(base.model_file), load_external_data=False).graph
    quantized, kept = int8_plan(graph)
    tables = [n.name for n in graph.node if n.op_type == "EmbedLayerNormalization"]  # fused word/position tables
    nodes = quantized + tables
    options = {"per_channel": True, "weight_type": "QInt8", "int8_matmuls": len(quantized),
               "float32_matmuls": len(kept), "int8_embedding_tables": len(tables)}
    if not nodes:  # quantize_dynamic reads an empty node list as "every node"
        logger.info("nothing to quantize in %s (%d matmuls, all kept float32)", base.model_file, len(kept))
        shutil.copy2(base.model_file, out / "model.onnx")
    else:
        with warnings.catch_warnings(), quiet_tools():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(base.model_file), str(out / "model.onnx"), per_channel=True,
                             weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "EmbedLayerNormalization"],
                             nodes_to_quantize=nodes,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    _share_files(base.folder, out)
    check = _verify(out, BACKENDS["onnx-int8"], base.settings, np.load(base.folder / "reference.npy"), strict=True)
    return {**{k: v for k, v in base.manifest["export"].items() if k != "check"}, "quantization": options,
            "check": check}


def _compress_openvino_from(base: Artefact, out: Path) -> dict[str, Any]:
    """Compress the weights of the float32 OpenVINO export ``base`` to int8 into ``out`` (NNCF,
    data-free, one scale and zero point per output channel); return the details for the manifest."""
    import nncf
    import openvino as ov

    from .openvino import shared_core

    spec = BACKENDS["openvino-int8"]
    settings = spec.recipe
    mode = getattr(nncf.CompressWeightsMode, settings["weights"].upper())  # INT8_ASYM
    # NNCF logs, and draws a progress bar on stdout, which carries a command's results
    with warnings.catch_warnings(), quiet_tools(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = shared_core().read_model(str(base.model_file))
        ov.save_model(nncf.compress_weights(model, mode=mode), str(out / "model.xml"), compress_to_fp16=False)
    _share_files(base.folder, out)
    check = _verify(out, spec, base.settings, np.load(base.folder / "reference.npy"), strict=True)
    group_size = settings["activation_group_size"]
    options = {"weights": f"{settings['weights']}, per output channel (NNCF compress_weights)",
               "activations": f"int8 at run time, per token in groups of {group_size}",
               "activation_group_size": group_size, "nncf": version("nncf")}
    return {**{k: v for k, v in base.manifest["export"].items() if k != "check"}, "quantization": options,
            "check": check}


TOKENIZER_CHECKS = ("  espacios  de más  ", "tab\tand\nnewline", "yupiiiiiiiiiiiiiiiiiii!!!!!", "emoji 😀😀 run",
                    "ﬁn de l’été…", "ＡＢＣ１２３", "café vs cafe\u0301", "<s> literal", "a\u0085b")


def _sentencepiece(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """Build ``tokenizer.model`` when the tokenizer is a SentencePiece-style Unigram, and keep it only if it gives
    the same ids as ``tokenizer.json`` on the probe texts and on cases that part the two libraries."""
    spec = build_sentencepiece(out / "tokenizer.json", out)
    if spec is None:
        return None
    kwargs = {"max_length": settings["max_length"], "truncation_side": settings.get("truncation_side", "right")}
    texts = [*PROBE_TEXTS, *TOKENIZER_CHECKS]
    fast = FastTokenizer(out / "tokenizer.json", sentencepiece=spec, **kwargs).ids_and_truncated(texts)
    exact = FastTokenizer(out / "tokenizer.json", **kwargs).ids_and_truncated(texts)
    if fast != exact:
        logger.warning("sentencepiece and tokenizers disagree on this model's sample texts; using tokenizers")
        (out / SENTENCEPIECE_FILE).unlink()
        return None
    return spec


def _share_files(base: Path, out: Path) -> None:
    """Give an int8 export the float32 export's tokenizer, reference vectors and embedding table (a hard link
    where the file system allows: e5's table is 384 MB)."""
    for name in ("tokenizer.json", SENTENCEPIECE_FILE, "reference.npy", EMBEDDINGS_FILE):
        if (base / name).is_file():
            try:
                os.link(base / name, out / name)
            except OSError:
                shutil.copy2(base / name, out / name)


def _to_openvino(onnx_file: Path, out: Path) -> None:
    import openvino as ov

    model = ov.convert_model(str(onnx_file))
    ov.save_model(model, str(out / "model.xml"), compress_to_fp16=False)


def _verify(folder: Path, spec: BackendSpec, settings: dict[str, Any], reference: np.ndarray, *,
            strict: bool) -> dict[str, Any]:
    """Run the export on the probe texts and compare with torch's embeddings; if ``strict``, raise when off."""
    tokenizer = FastTokenizer(folder / "tokenizer.json", max_length=settings["max_length"],
                              truncation_side=settings.get("truncation_side", "right"),
                              sentencepiece=settings.get("sentencepiece"))
    backend = open_backend(spec, folder / MODEL_FILES[spec.runtime][0], threads=1, keep_compiled=False)
    ids = tokenizer.ids(PROBE_TEXTS)
    got = np.concatenate([backend.embed(*pad_batch(ids[i : i + 8], settings["pad_id"])) for i in range(0, len(ids), 8)])
    cosine = similarity_pairwise(got, reference)
    check = {"max_abs_diff": float(np.abs(got - reference).max()), "min_cosine": float(cosine.min())}
    check["ok"] = check["max_abs_diff"] < EXACT_TOLERANCE if spec.exact else check["min_cosine"] >= INT8_MIN_COSINE
    if strict and not check["ok"]:
        raise ModelLoadError(
            f"the {spec.name} export disagrees with torch on probe texts (max abs diff "
            f"{check['max_abs_diff']:.2g}, min cosine {check['min_cosine']:.4f}); use backend='torch'")
    return check


class quiet_tools:
    """ONNX Runtime's Python tools and NNCF log freely (some through the root logger); mute them while they run."""

    def __enter__(self) -> None:
        self._disabled = logging.root.manager.disable
        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        logging.disable(self._disabled)
