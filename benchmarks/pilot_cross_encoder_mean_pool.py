"""Pilot (dev only): a cross-encoder whose one-logit head reads the mean-pooled joint encoding.

frasi's cross-encoder is sentence-transformers' default: a sequence-classification head on
the first token. multilingual-e5-small was trained with mean pooling, so this pilot swaps
in Transformer -> Pooling(mean) -> Dense(1) and otherwise runs ``train_sts.py`` unchanged
(same arguments, same trainer, same head learning rate). Measured, 150 steps from the
fine-tuned bi-encoder, STSb-en dev Spearman: 84.34 against 84.26 for the first-token head
(results/pilots/), so frasi keeps the default head.

    PYTHONPATH=src python benchmarks/pilot_cross_encoder_mean_pool.py --arch cross-encoder --langs en \
        --model /tmp/frasi-bench/bi-5749 --lr 5e-5 --head-lr 1e-3 --batch-size 16 --max-seq-length 128 \
        --max-steps 150 --eval-steps 150 --dev-only --model-dir /tmp/frasi-bench/pilot-cross-bi-meanpool \
        --output benchmarks/results/pilots/train_sts-cross-encoder-en-pilot-init-bi-headlr-meanpool.json
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import frasi.train.cross_encoder as cross_encoder
from frasi.loading import transformer_folder
from frasi.train.config import TrainConfig


def load_mean_pooled(config: TrainConfig) -> Any:
    import torch
    import transformers
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    folder = str(transformer_folder(config.model))
    transformers.set_seed(config.seed)  # the new head's initialisation
    local = {"local_files_only": True}
    transformer = Transformer(folder, transformer_task="feature-extraction", max_seq_length=config.max_seq_length,
                              model_kwargs=local, processor_kwargs=local, config_kwargs=local)
    dim = transformer.auto_model.config.hidden_size
    head = Dense(dim, 1, activation_function=torch.nn.Identity(), module_output_name="scores")
    return CrossEncoder(modules=[transformer, Pooling(dim, pooling_mode="mean"), head], device="cpu")


if __name__ == "__main__":
    cross_encoder.load_new_cross_encoder = load_mean_pooled
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    sys.argv[0] = str(here / "train_sts.py")
    runpy.run_path(str(here / "train_sts.py"), run_name="__main__")
