"""frasi: a workbench for transformer sentence embeddings (es / it / en), offline.

    >>> import frasi
    >>> encoder = frasi.Encoder.load()              # multilingual-e5-small, converted once
    >>> vectors = encoder.encode(["Hola", "Ciao"])  # (2, 384) float32
    >>> frasi.similarity_matrix(vectors)            # cosine, every pair

Importing frasi is cheap: torch and sentence-transformers load with the first model
that needs them. The names below are the whole public API; the modules hold more for
those who need it (``frasi.search.FaissIndex``, ``frasi.data.read_sts``,
``frasi.evaluate.evaluate_sts``, ``frasi.train``).
"""

from . import _lazy
from .cache import EmbeddingCache
from .compose import compose
from .encoder import Encoder
from .errors import (
    FrasiError,
    InputError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    OutputError,
)
from .io import read_texts, write_embeddings
from .search import build_index, load_index, mine_paraphrases, semantic_search
from .similarity import similarity_matrix, similarity_pairwise
from .sources import DEFAULT_MODEL, list_models

__version__ = "0.2.0"

# scikit-learn takes ~2 s to import: the classifier API loads on first use (PEP 562).
_LAZY = {"EmbeddingClassifier": "classify", "load_sentiment": "sentiment"}


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingCache",
    "EmbeddingClassifier",
    "Encoder",
    "FrasiError",
    "InputError",
    "MissingExtraError",
    "ModelLoadError",
    "ModelNotFoundError",
    "OutputError",
    "__version__",
    "build_index",
    "compose",
    "list_models",
    "load_index",
    "load_sentiment",
    "mine_paraphrases",
    "read_texts",
    "semantic_search",
    "similarity_matrix",
    "similarity_pairwise",
    "write_embeddings",
]
