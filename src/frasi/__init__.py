"""frasi: a workbench for transformer sentence embeddings (es / it / en), offline.

    >>> import frasi
    >>> encoder = frasi.Encoder.load()              # multilingual-e5-small, converted once
    >>> vectors = encoder.encode(["Hola", "Ciao"])  # (2, 384) float32
    >>> frasi.pairwise_scores(vectors)              # cosine matrix

Importing frasi is cheap: torch and sentence-transformers load with the first model.
"""

from . import _lazy
from .cache import EmbeddingCache, encode_cached
from .compose import compose
from .encoder import Encoder, TokenInfo
from .errors import (
    FrasiError,
    InputError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    OutputError,
)
from .io import read_texts, write_embeddings
from .search import (
    ExactIndex,
    FaissIndex,
    build_index,
    load_index,
    mine_paraphrases,
    semantic_search,
)
from .similarity import METRICS, pairwise_scores, rank
from .sources import DEFAULT_MODEL, ModelInfo, cache_dir, list_models

__version__ = "0.1.0"

# scikit-learn takes ~2 s to import: the classifier and training API load on first use (PEP 562).
_LAZY = {"EmbeddingClassifier": "classify", "load_sentiment": "sentiment", "TrainConfig": "train"}


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())

__all__ = [
    "DEFAULT_MODEL",
    "METRICS",
    "EmbeddingCache",
    "EmbeddingClassifier",
    "Encoder",
    "ExactIndex",
    "FaissIndex",
    "FrasiError",
    "InputError",
    "MissingExtraError",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFoundError",
    "OutputError",
    "TokenInfo",
    "TrainConfig",
    "__version__",
    "build_index",
    "cache_dir",
    "compose",
    "encode_cached",
    "list_models",
    "load_index",
    "load_sentiment",
    "mine_paraphrases",
    "pairwise_scores",
    "rank",
    "read_texts",
    "semantic_search",
    "write_embeddings",
]
