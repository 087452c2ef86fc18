"""Fine-tune and compare pair models on STS data (needs the ``train`` extra).

    >>> from frasi.train import TrainConfig, load_scorer, train
    >>> config = TrainConfig(train_files=["stsb-es-train.csv", "stsb-it-train.csv"],
    ...                      dev_files=["stsb-es-dev.csv"], architecture="bi-encoder",
    ...                      freeze_embeddings=True, max_seq_length=64)
    >>> result = train(config, "models/e5-sts")      # best dev checkpoint + frasi_run.json
    >>> load_scorer("models/e5-sts").predict(["Hola"], ["Ciao"])

Architectures (``TrainConfig.architecture``): one driver (:func:`train`) runs every one
through its recipe: ``bi-encoder`` and ``cross-encoder`` train with sentence-transformers'
trainers; ``regression``, ``siamese`` and ``cross-attention`` (the seed notebook's three,
implemented right) with frasi's small torch loop, because their heads live outside the
SentenceTransformer that the trainer checkpoints. ``callbacks`` (:class:`TrainCallback`)
are told of every checkpoint.
:func:`compare` trains a set of architectures on one split with the same seeds and
writes a report. Importing this package is cheap; torch loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frasi import _lazy

from .config import ARCHITECTURES, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    from .compare import CompareResult, compare
    from .driver import TrainCallback, train
    from .result import TrainResult
    from .scoring import PairScorer, load_scorer

__all__ = ["ARCHITECTURES", "CompareResult", "PairScorer", "TrainCallback", "TrainConfig", "TrainResult", "compare",
           "load_scorer", "train"]

_LAZY = {"TrainResult": "result", "PairScorer": "scoring", "load_scorer": "scoring", "compare": "compare",
         "CompareResult": "compare", "train": "driver", "TrainCallback": "driver"}


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())
