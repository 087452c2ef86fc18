"""The float32 export: load the model with torch, trace it to ONNX, and build the runtime's model from the graph.

An embedding model's whole sentence-transformers stack (Transformer -> Pooling -> [Dense]
-> [Normalize]) is traced with dynamic batch and length; a sequence classifier (a fine-tuned
text classifier, a Hugging Face ``*ForSequenceClassification`` folder) is traced from token
ids to its logits. Then per runtime:

* ONNX Runtime (``onnx``): attention, LayerNorm and GELU are fused with ONNX Runtime's
  transformer optimizer (the unfused graph is kept if the fused one fails or disagrees);
* OpenVINO (``openvino``): the graph is converted to OpenVINO IR with float32 weights, and
  the word-embedding table stays outside it (``embeddings.npy``, memory-mapped at run
  time, so only the rows of the tokens seen are read).

The tokenizer is saved as ``tokenizer.json``, and for SentencePiece-style Unigram
tokenizers also as a sentencepiece model (:mod:`frasi.backends.tokenizer`), kept only if
both give the same ids on sample texts. Torch's vectors of the probe texts are saved as
``reference.npy``, and the built model must reproduce them.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FrasiError, ModelLoadError, first_line
from ..loading import load_sentence_transformer, settings_of
from ..probes import PROBE_TEXTS
from ..sources import ResolvedModel, model_kind
from ..versions import versions
from . import BackendSpec
from .artefact import EMBEDDINGS_FILE, MODEL_FILES, ModelNotExportable, quiet_tools, verify_export
from .tokenizer import SENTENCEPIECE_FILE, VOCABULARY_FILE, FastTokenizer, build_sentencepiece

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


OPSET = 17


def _steps(total: int, what: str) -> Any:
    """A progress bar over an export's steps (on a terminal, at frasi's INFO level)."""
    from tqdm.auto import tqdm

    from ..progress import show_progress_default

    return tqdm(total=total, desc=what, unit="step", disable=not show_progress_default(), leave=False,
                bar_format="{desc}: {n}/{total} steps, {elapsed} elapsed, {postfix}")


@dataclass
class Traceable:
    """A loaded model as an export sees it: a sentence-transformers stack, or a sequence classifier."""

    name: str
    tokenizer: Any
    root: Any  # the torch module that holds every weight the output depends on
    model: Any  # the transformers model: attention implementation, input embeddings, config
    forward: Callable[[dict[str, Any]], Any]  # features (input_ids or inputs_embeds, attention_mask) -> output
    settings: dict[str, Any]
    reference: Callable[[list[str]], np.ndarray]  # torch's output for texts
    output: str  # the graph output's name


def _sentence_transformer(resolved: ResolvedModel) -> Traceable:
    st = load_sentence_transformer(resolved, "cpu")
    _check_exportable(st, resolved)
    auto = st[0].auto_model

    def forward(features: dict[str, Any]) -> Any:
        if "inputs_embeds" not in features:
            return st(features)["sentence_embedding"]
        hidden = auto(**features).last_hidden_state
        features = {"token_embeddings": hidden, "attention_mask": features["attention_mask"]}
        for module in list(st)[1:]:  # pooling, Dense, Normalize
            features = module(features)
        return features["sentence_embedding"]

    def reference(texts: list[str]) -> np.ndarray:
        return st.encode(texts, prompt="", batch_size=8, convert_to_numpy=True, show_progress_bar=False)

    return Traceable(resolved.name, st.tokenizer, st, auto, forward, settings_of(st), reference, "sentence_embedding")


def _sequence_classifier(resolved: ResolvedModel) -> Traceable:
    """A Hugging Face sequence-classification folder: texts in, one logit per class out."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .._hf import quiet_loading

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(resolved.path), local_files_only=True).eval()
    if not getattr(tokenizer, "is_fast", False):
        raise ModelNotExportable(f"{resolved.name} has no fast tokenizer (tokenizer.json), which the runtime "
                                 "backends need; use backend='torch'")
    config = model.config
    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    max_length = min(int(tokenizer.model_max_length or 512), 512, positions - (2 if positions > 512 else 0))
    uses_types = "token_type_ids" in tokenizer.model_input_names

    def forward(features: dict[str, Any]) -> Any:
        return model(**features).logits

    def reference(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.no_grad():
            return model(**batch).logits.float().numpy()

    settings = {
        "max_length": max_length, "prompts": {}, "default_prompt_name": None, "normalizes": False,
        "dimension": int(config.num_labels), "hidden_size": int(config.hidden_size),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "clean_up_spaces": bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)),
        "truncation_side": str(getattr(tokenizer, "truncation_side", "right")), "token_type_ids": uses_types,
        "modules": [type(model).__name__], "task": "sequence-classification",
        "id2label": {str(k): str(v) for k, v in config.id2label.items()},
    }
    return Traceable(resolved.name, tokenizer, model, model, forward, settings, reference, "logits")


def export_float32(resolved: ResolvedModel, spec: BackendSpec, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trace the model to ONNX (and fuse or convert it for ``spec``) in ``out``; return (details, settings)."""
    with _steps(5, f"exporting {resolved.name} for {spec.name}") as bar:
        bar.set_postfix_str("loading with torch")
        classifier = model_kind(resolved.path) == "text-classifier"
        traceable = (_sequence_classifier if classifier else _sentence_transformer)(resolved)
        settings = dict(traceable.settings)
        bar.update()
        bar.set_postfix_str("tokenizer and reference vectors")
        traceable.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
        settings["sentencepiece"] = _sentencepiece(out, settings)
        reference = traceable.reference(list(PROBE_TEXTS))
        np.save(out / "reference.npy", reference.astype(np.float32), allow_pickle=False)
        details: dict[str, Any] = {"opset": OPSET, **versions(("torch", "transformers", "sentence-transformers"))}
        bar.update()
        bar.set_postfix_str("tracing to ONNX")
        raw = out / "raw.onnx"
        # OpenVINO keeps the word embeddings out of the graph: compiled, e5's 384 MB table would be copied into
        # the process; read from a memory-mapped file, only the rows of the tokens seen are
        outside = spec.runtime == "openvino" and _save_embedding_table(traceable.model, out)
        _trace(traceable, raw, embeddings_outside=outside)
        details["embeddings"] = f"{EMBEDDINGS_FILE}, memory-mapped" if outside else "in the graph"
        bar.update()
        bar.set_postfix_str(f"building the {spec.runtime} model")
        details["check"] = _runtime_model(raw, out, spec, settings, reference, traceable, details)
        bar.update(2)
    return details, settings


def _runtime_model(raw: Path, out: Path, spec: BackendSpec, settings: dict[str, Any], reference: np.ndarray,
                   traceable: Traceable, details: dict[str, Any]) -> dict[str, Any]:
    """Turn the traced ``raw`` graph into the runtime's model (fused for ONNX Runtime, IR for OpenVINO) and check
    it against torch's ``reference`` vectors."""
    model_file = out / MODEL_FILES[spec.runtime][0]
    if spec.runtime == "onnxruntime":
        details["fused"] = _fuse(raw, model_file, traceable.model.config)
        if details["fused"]:
            try:
                check = verify_export(out, spec, settings, reference, strict=False)
            except Exception as exc:
                logger.warning("ONNX Runtime cannot run the fused graph of %s (%s); using the unfused graph "
                               "(slower)", traceable.name, first_line(exc))
                details["fused"] = False
            else:
                if not check["ok"]:
                    logger.warning("the fused graph of %s disagrees with torch (max abs diff %.2g); using the "
                                   "unfused graph (slower)", traceable.name, check["max_abs_diff"])
                    details["fused"] = False
        if not details["fused"]:
            os.replace(raw, model_file)
    else:
        _to_openvino(raw, out)
    raw.unlink(missing_ok=True)
    return verify_export(out, spec, settings, reference, strict=True)


def _check_exportable(st: SentenceTransformer, resolved: ResolvedModel) -> None:
    """Raise ModelNotExportable for model stacks the runtime backends cannot run."""
    first = st[0]
    if type(first).__name__ != "Transformer" or not hasattr(first, "auto_model"):
        raise ModelNotExportable(f"{resolved.name} starts with {type(first).__name__}, not a Transformer; the "
                                 "runtime backends export transformer models only: use backend='torch'")
    for module in st:
        if getattr(module, "include_prompt", True) is False:
            raise ModelNotExportable(f"{resolved.name} pools without its prompt tokens (include_prompt=False), "
                                     "which the runtime backends do not export; use backend='torch'")
    if not getattr(st.tokenizer, "is_fast", False):
        raise ModelNotExportable(f"{resolved.name} has no fast tokenizer (tokenizer.json), which the runtime "
                                 "backends need; use backend='torch'")


def _trace(traceable: Traceable, path: Path, *, embeddings_outside: bool = False) -> None:
    """Trace to ONNX with dynamic batch and length: token ids and mask in, the model's output out; or, with
    ``embeddings_outside``, the rows of the word-embedding table (``inputs_embeds``) instead of the ids."""
    import torch

    uses_types = traceable.settings["token_type_ids"]
    model = traceable.model
    table = model.get_input_embeddings()
    name = "inputs_embeds" if embeddings_outside else "input_ids"

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.root = traceable.root  # its weights become the graph's initializers, not constants

        def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = {name: inputs, "attention_mask": attention_mask}
            if uses_types:
                features["token_type_ids"] = torch.zeros_like(attention_mask)
            return traceable.forward(features)

    # A padded second row, so the trace keeps the attention mask (an all-ones mask may be skipped).
    ids = torch.tensor(traceable.tokenizer(["hola mundo y buenos días", "hola"], padding=True)["input_ids"])
    mask = (torch.arange(ids.shape[1])[None, :] < torch.tensor([[ids.shape[1]], [3]])).long()
    inputs = table(ids).detach() if embeddings_outside else ids
    attention = getattr(model.config, "_attn_implementation", None)
    try:
        model.set_attn_implementation("eager")  # the pattern ONNX Runtime's fusions recognise
    except (AttributeError, ValueError):
        attention = None
    output = traceable.output
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Graph().eval(), (inputs, mask), str(path), input_names=[name, "attention_mask"],
                output_names=[output], opset_version=OPSET, dynamo=False,
                dynamic_axes={name: {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              output: {0: "batch"}},
            )
    except FrasiError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"cannot export {traceable.name} to ONNX: {reason}; use backend='torch'") from exc
    finally:
        if attention is not None:
            model.set_attn_implementation(attention)


def _save_embedding_table(model: Any, out: Path) -> bool:
    """Write the model's word-embedding table to ``embeddings.npy`` (float32), when it is a plain lookup table
    that the runtime can read row by row (memory-mapped: only the rows of the tokens seen are loaded)."""
    import torch

    table = model.get_input_embeddings()
    if type(table) is not torch.nn.Embedding:
        return False
    np.save(out / EMBEDDINGS_FILE, table.weight.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    return True


def _fuse(raw: Path, out: Path, config: Any) -> bool:
    """Fuse attention / LayerNorm / GELU with ONNX Runtime's optimizer; False (graph left as is) if it fails."""
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


def _to_openvino(onnx_file: Path, out: Path) -> None:
    import openvino as ov

    model = ov.convert_model(str(onnx_file))
    ov.save_model(model, str(out / "model.xml"), compress_to_fp16=False)


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
    exact = FastTokenizer(out / "tokenizer.json", **kwargs).ids_and_truncated(texts)
    for subset in ({"subset_max_chars": 10**9}, {"subset_max_chars": 0}):  # a model of the texts' pieces; the whole
        fast = FastTokenizer(out / "tokenizer.json", sentencepiece=spec, subset=subset, **kwargs)
        if fast.ids_and_truncated(texts) != exact:
            logger.warning("sentencepiece and tokenizers disagree on this model's sample texts; using tokenizers")
            for name in (SENTENCEPIECE_FILE, VOCABULARY_FILE):
                (out / name).unlink(missing_ok=True)
            return None
    return spec
