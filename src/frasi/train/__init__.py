"""Fine-tune and compare pair models on STS data (needs the ``train`` extra).

    >>> from frasi.train import TrainConfig, load_scorer, train
    >>> config = TrainConfig(train_files=["stsb-es-train.csv", "stsb-it-train.csv"],
    ...                      dev_files=["stsb-es-dev.csv"], architecture="bi-encoder",
    ...                      freeze_embeddings=True, max_seq_length=64)
    >>> result = train(config, "models/e5-sts")      # best dev checkpoint + frasi_run.json
    >>> load_scorer("models/e5-sts").predict(["Hola"], ["Ciao"])

Architectures (``TrainConfig.architecture``): ``bi-encoder`` and ``cross-encoder`` train
with sentence-transformers' trainers; ``regression``, ``siamese`` and ``cross-attention``
(the seed notebook's three, implemented right) with frasi's small torch loop, because
their heads live outside the SentenceTransformer that the trainer checkpoints.
:func:`compare` trains a set of architectures on one split with the same seeds and
writes a report. Importing this package is cheap; torch loads on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from frasi import _lazy

from .config import ARCHITECTURES, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    from .compare import CompareResult
    from .result import TrainResult
    from .scoring import PairScorer

__all__ = ["ARCHITECTURES", "CompareResult", "PairScorer", "TrainConfig", "TrainResult", "compare", "load_scorer",
           "train"]

_LAZY = {"TrainResult": "result", "PairScorer": "scoring", "load_scorer": "scoring", "compare": "compare",
         "CompareResult": "compare"}


def train(config: TrainConfig, output: str | Path, *, resume: bool = False) -> TrainResult:
    """Train ``config.architecture`` on ``config``'s data; write the model and ``frasi_run.json`` to ``output``.

    Every data file is read and checked before any model loads. ``output`` must be
    absent or empty; checkpoints go to ``output.partial/`` until the end. After an
    interrupt, call again with ``resume=True`` to continue from the last checkpoint; a run
    that fails before its first checkpoint (an unknown model, say) leaves nothing behind.
    """
    from frasi.errors import InputError

    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig, got {type(config).__name__}; build one with "
                         "TrainConfig(...) or TrainConfig.from_file(path)")
    from . import _run

    if config.architecture == "bi-encoder":
        from .bi_encoder import train_bi_encoder as trainer
    elif config.architecture == "cross-encoder":
        from .cross_encoder import train_cross_encoder as trainer
    else:
        from .loop import train_architecture as trainer
    work = _run.work_folder(Path(output).expanduser())
    fresh = not work.exists()  # made by this call, so this call may remove it
    try:
        return trainer(config, output, resume=resume)
    except BaseException:
        if fresh:
            _run.discard_unstarted(work)
        raise


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())
