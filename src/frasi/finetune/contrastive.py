"""SetFit's method for few labels: contrastive training of the sentence encoder, then a logistic head.

SetFit (Tunstall et al., 2022) fine-tunes a sentence encoder on pairs of training texts,
labelled 1 when the two share a class and 0 when they do not (CosineSimilarityLoss: the
cosine of the two embeddings is pulled towards the label), then fits a logistic regression
on the tuned embeddings. A few labelled texts make many pairs, which is why it works with
8 examples per class where fine-tuning a classification head does not.

The embedding is the encoder's own, as in SetFit: its pooling, normalisation and default
prompt (mean pooling and "query: " for e5), what the encoder was trained to produce. A
sequence-classification head would read BERT's pooler over the first token instead, which
sentence encoders never train (frasi's e5 ships it as zeros); contrastive training from
there scored well below a head on frozen embeddings. The result is therefore an
:class:`frasi.EmbeddingClassifier` over the tuned encoder, and it is saved in that format
with the encoder inside the folder (see :class:`frasi.finetune.FineTunedClassifier`).
Pairs are drawn as SetFit's default ("oversampling") draws them: each round gives every
text one partner of its class and one of another class.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..encoder import Encoder
from ..train.run import Progress

logger = logging.getLogger(__name__)


def draw_pairs(labels: np.ndarray, rounds: int, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """``rounds`` x (one same-class and one other-class partner per text): (i, j, 1.0 or 0.0)."""
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    pairs = []
    for _ in range(rounds):
        for i, label in enumerate(labels.tolist()):
            same = by_class[label][by_class[label] != i]
            other = np.flatnonzero(labels != label)
            if len(same):
                pairs.append((i, int(rng.choice(same)), 1.0))
            if len(other):
                pairs.append((i, int(rng.choice(other)), 0.0))
    order = rng.permutation(len(pairs))
    return [pairs[k] for k in order]


def trainable_encoder(encoder: Encoder | Any, *, threads: int | None) -> Encoder:
    """A torch Encoder to train in place, named ``<encoder> (setfit)``: ``encoder`` loaded by name or folder, or
    a copy of a loaded one. It has no folder, so its fingerprint (an EmbeddingCache's key) is its weights', not
    the files it started from."""
    if isinstance(encoder, Encoder):
        base, model = encoder, copy.deepcopy(encoder.model)
    else:
        base = Encoder.load(encoder, backend="torch", threads=threads)
        model = base.model
    return Encoder(model, name=f"{base.name} (setfit)", threads=threads)


def train_encoder(encoder: Encoder, texts: Sequence[str], labels: np.ndarray, *, pairs: int, batch_size: int,
                  learning_rate: float, max_length: int, seed: int) -> dict[str, Any]:
    """Contrastive training of ``encoder``'s sentence embedding on pairs of ``texts``, in place.

    Texts get the encoder's default prompt, as :meth:`frasi.Encoder.encode` gives them; they
    are cut at ``max_length`` tokens during training only. A transformer's word embeddings stay
    frozen. Returns pairs, steps and losses.
    """
    import torch

    model = encoder.model
    prompt = encoder.resolve_prompt() or None
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    rounds = max(1, int(np.ceil(pairs / (2 * len(labels)))))
    drawn = draw_pairs(labels, rounds, rng)[:pairs]
    # A transformer's word-embedding table (250k x 384 in e5, four fifths of its weights) stays
    # as it is: a few hundred texts touch a few thousand of its rows, and its dense gradient and
    # AdamW update made each step 1.6 times slower on 2 cores for the same losses. A model whose
    # first module is not a transformer trains as it is.
    transformer = getattr(model[0], "auto_model", None)
    table = transformer.get_input_embeddings().weight if transformer is not None else None
    table_was_trainable = table is not None and table.requires_grad
    if table is not None:
        table.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    steps = int(np.ceil(len(drawn) / batch_size))
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))

    def embed(batch: list[str]) -> Any:
        return model(model.preprocess(batch, prompt=prompt))["sentence_embedding"]

    progress = Progress(steps, desc="contrastive pairs")
    saved_length = model.max_seq_length
    model.max_seq_length = min(max_length, saved_length)
    model.train()
    losses = []
    try:
        for step in range(steps):
            chunk = drawn[step * batch_size:(step + 1) * batch_size]
            left = embed([texts[i] for i, _, _ in chunk])
            right = embed([texts[j] for _, j, _ in chunk])
            target = torch.tensor([same for _, _, same in chunk], dtype=left.dtype)
            loss = torch.nn.functional.mse_loss(torch.cosine_similarity(left, right), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
            progress.update(step + 1, float(np.mean(losses[-10:])))
    finally:
        progress.close()
        model.eval()
        model.max_seq_length = saved_length
        if table is not None:
            table.requires_grad_(table_was_trainable)
    window = max(1, min(10, steps // 2))
    return {"pairs": len(drawn), "steps": steps, "prompt": prompt or "",
            "first_loss": round(float(np.mean(losses[:window])), 5),
            "last_loss": round(float(np.mean(losses[-window:])), 5)}
