"""Loading a model folder into a ``SentenceTransformer``, checked, quietly, and what it is made of.

Every way frasi loads a model with torch goes through :func:`load_checked`: missing
weights or tokenizer files are reported before loading, any failure becomes one
:class:`~frasi.errors.ModelLoadError` line, and weights that the checkpoint lacks (which
transformers would initialise at random) are an error, not a warning. A plain Hugging
Face encoder folder gets mean pooling, as sentence-transformers does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._hf import quiet_loading
from .errors import FrasiError, InputError, ModelLoadError, first_line
from .sources import ResolvedModel, check_embedder, resolve

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

def check_device(device: str) -> None:
    """A device torch can parse and this machine has, or an InputError (not a corrupt-folder error)."""
    if device == "cpu":
        return
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}.get(kind, lambda: True)
    if not available():
        raise InputError(f"device={device!r} is not available here (this torch build or machine has no {kind}); "
                         "use device='cpu'")


def load_sentence_transformer(resolved: ResolvedModel, device: str) -> SentenceTransformer:
    """Load a resolved folder; a plain encoder folder gets mean pooling, as sentence-transformers does."""
    path = resolved.path

    def build() -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        if (path / "modules.json").is_file():
            return SentenceTransformer(str(path), device=device, local_files_only=True)
        logger.info("%s is a plain encoder folder: adding mean pooling", path)
        return compose_modules(str(path), pooling="mean", device=device)

    return load_checked(path, build)


def load_checked(path: Path, build: Callable[[], SentenceTransformer]) -> SentenceTransformer:
    """Run ``build`` quietly over the model folder ``path``; turn every failure into ModelLoadError.

    Missing files are reported before loading; weights that the checkpoint lacks (which
    transformers would initialise at random) are an error, not a warning.
    """
    check_model_files(path)
    try:
        with quiet_loading() as messages:
            model = build()
    except FrasiError:
        raise
    except Exception as exc:
        first = first_line(exc)
        raise ModelLoadError(
            f"cannot load the model in {path}: {first}; the folder may be corrupt or partial "
            "(re-save it, or delete it so frasi converts or downloads it again)"
        ) from exc
    if any("LOAD REPORT" in m and "MISSING" in m for m in messages):
        raise ModelLoadError(
            f"the weights in {path} lack tensors the model needs (they would be random); the checkpoint "
            "is partial or belongs to another architecture: re-save or re-download the model"
        )
    return model


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model", "sentencepiece.model")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def check_model_files(path: Path) -> None:
    """Raise ModelLoadError when a transformer folder lacks its weights or tokenizer files."""
    import json

    folder = path
    if (path / "modules.json").is_file():
        try:
            first = json.loads((path / "modules.json").read_text(encoding="utf-8"))[0]
        except (ValueError, IndexError, KeyError, OSError) as exc:
            raise ModelLoadError(f"{path / 'modules.json'} is not valid; the folder is corrupt") from exc
        if not str(first.get("type", "")).endswith("Transformer"):
            return  # static embeddings and other first modules have their own files
        folder = path / first.get("path", "")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json; the model folder is incomplete")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(f"{folder} has no weights (model.safetensors or pytorch_model.bin); "
                             "the model folder is incomplete")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(f"{folder} has no tokenizer files (tokenizer.json, vocab.txt, ...); "
                             "the model folder is incomplete")


POOLING_MODES: tuple[str, ...] = ("cls", "mean", "max", "weightedmean")
ACTIVATIONS: dict[str, str] = {"tanh": "Tanh", "relu": "ReLU", "gelu": "GELU", "identity": "Identity",
                               "sigmoid": "Sigmoid"}


def compose_modules(
    encoder: str,
    *,
    pooling: str = "mean",
    dense_dim: int | None = None,
    dense_activation: str = "tanh",
    normalize: bool = False,
    max_length: int | None = None,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> SentenceTransformer:
    """Build the SentenceTransformer stack over the encoder folder or Hub id ``encoder``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    if pooling not in POOLING_MODES:
        raise InputError(f"pooling must be one of {', '.join(POOLING_MODES)}; got {pooling!r}")
    if dense_activation not in ACTIVATIONS:
        raise InputError(f"dense activation must be one of {', '.join(ACTIVATIONS)}; got {dense_activation!r}")
    if dense_dim is not None and (not isinstance(dense_dim, int) or dense_dim < 1):
        raise InputError(f"dense size must be a positive integer, got {dense_dim!r}")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 4):
        raise InputError(f"max_length must be an integer >= 4, got {max_length!r}")

    transformer = Transformer(encoder, max_seq_length=max_length)
    hidden = transformer.get_embedding_dimension()
    modules = [transformer, Pooling(hidden, pooling_mode=pooling)]
    if dense_dim is not None:
        # Seeded so that composing twice gives the same (untrained) projection.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            modules.append(Dense(hidden, dense_dim,
                                 activation_function=getattr(torch.nn, ACTIVATIONS[dense_activation])()))
    if normalize:
        modules.append(Normalize())
    return SentenceTransformer(modules=modules, device=device, prompts=prompts,
                               default_prompt_name=default_prompt_name)


def settings_of(st: SentenceTransformer) -> dict[str, Any]:
    """What a runtime needs to know of a loaded model besides its weights (the keys an export's manifest keeps)."""
    first, tokenizer = st[0], st.tokenizer
    dimension = int(st.get_embedding_dimension())
    hidden = first.get_embedding_dimension() if hasattr(first, "get_embedding_dimension") else None
    return {
        "max_length": int(st.max_seq_length),
        "prompts": dict(st.prompts or {}),
        "default_prompt_name": st.default_prompt_name,
        "normalizes": any(type(m).__name__ == "Normalize" for m in st),
        "dimension": dimension,
        "hidden_size": int(hidden or dimension),
        "pad_id": int(getattr(tokenizer, "pad_token_id", None) or 0),
        "clean_up_spaces": bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)),
        "truncation_side": str(getattr(tokenizer, "truncation_side", "right")),
        "token_type_ids": "token_type_ids" in getattr(tokenizer, "model_input_names", ()),
        "modules": [type(m).__name__ for m in st],
    }


def transformer_folder(name_or_path: str | Path) -> Path:
    """The Hugging Face transformer folder inside a model (the root of a sentence-transformers folder)."""
    resolved = resolve(name_or_path)
    check_embedder(resolved)
    path = resolved.path
    modules = path / "modules.json"
    if not modules.is_file():
        return path
    for module in json.loads(modules.read_text(encoding="utf-8")):
        if str(module.get("type", "")).endswith("Transformer"):
            return path / module.get("path", "")
    raise ModelLoadError(f"{path} has no Transformer module in modules.json; expected a transformer encoder model")
