"""The seed notebook's three pair architectures, implemented right, over one shared encoder.

Each is a :class:`PairRegressor`: a transformer encoder (from any Encoder) plus a small
head, trained with MSE against the gold score mapped to [0, 1]; it predicts the sigmoid of
the head's output. Selectable by name:

    regression       the pair encoded jointly (``[CLS] s1 [SEP] s2 [SEP]``), mean-pooled,
                     an MLP to one score. (The seed's version only ever saw sentence 1.)
    siamese          each sentence encoded by the same encoder (mean pooling) into u and
                     v; an MLP over [u, v, |u-v|, u*v]. (The seed fed the same pair to
                     both towers at inference.)
    cross-attention  each sentence's token vectors attend to the other's (multi-head
                     attention, residual, layer norm), masked means a and b, an MLP over
                     [a, b, |a-b|, a*b].

Saved as a folder: ``encoder/`` (a standard sentence-transformers folder with the
fine-tuned encoder), ``head.safetensors`` and ``head.json`` (architecture, sizes,
prompt). :meth:`PairRegressor.load` rebuilds it and gives identical predictions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from frasi.errors import InputError, ModelLoadError, first_line

from .config import HEAD_ARCHITECTURES

logger = logging.getLogger(__name__)

HEAD_FILE = "head.safetensors"
HEAD_CONFIG = "head.json"


def _mlp(n_in: int, hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.Tanh(), nn.Dropout(dropout),
                         nn.Linear(hidden, 1))


def _masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _pair_features(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cat([a, b, (a - b).abs(), a * b], dim=-1)


def build_head(architecture: str, hidden: int, *, dropout: float = 0.1, heads: int | None = None) -> nn.Module:
    """The head module of ``architecture`` for an encoder of width ``hidden``."""
    if architecture == "regression":
        return _mlp(hidden, hidden, dropout)
    if architecture == "siamese":
        return _mlp(4 * hidden, hidden, dropout)
    if architecture == "cross-attention":
        n_heads = heads or next(h for h in (8, 6, 4, 2, 1) if hidden % h == 0)
        head = nn.Module()
        head.attention = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        head.norm = nn.LayerNorm(hidden)
        head.mlp = _mlp(4 * hidden, hidden, dropout)
        return head
    raise InputError(f"architecture must be one of {', '.join(HEAD_ARCHITECTURES)}; got {architecture!r}")


class PairRegressor(nn.Module):
    """An encoder and a head that score a sentence pair in [0, 1]; see the module docstring."""

    def __init__(self, st_model: Any, architecture: str, *, prompt: str = "", dropout: float = 0.1,
                 heads: int | None = None) -> None:
        super().__init__()
        if architecture not in HEAD_ARCHITECTURES:
            raise InputError(f"architecture must be one of {', '.join(HEAD_ARCHITECTURES)}; got {architecture!r}")
        self.st = st_model
        self.architecture = architecture
        self.prompt = prompt
        self.hidden = int(st_model[0].get_embedding_dimension())
        self.dropout = dropout
        self.head = build_head(architecture, self.hidden, dropout=dropout, heads=heads)
        self.heads = getattr(getattr(self.head, "attention", None), "num_heads", None)

    # ------------------------------------------------------------ forward

    @property
    def transformer(self):
        return self.st[0].auto_model

    @property
    def max_length(self) -> int:
        return int(self.st.max_seq_length)

    def _tokens(self, first: list[str], second: list[str] | None = None):
        tokenizer = self.st.tokenizer
        first = [self.prompt + t for t in first]
        second = None if second is None else [self.prompt + t for t in second]
        batch = tokenizer(first, second, truncation="longest_first" if second else True, padding=True,
                          max_length=self.max_length, return_tensors="pt")
        output = self.transformer(**batch)
        return output.last_hidden_state, batch["attention_mask"]

    def forward(self, sentences1: list[str], sentences2: list[str]):
        """Scores in [0, 1] (a 1-D tensor), one per pair."""
        if self.architecture == "regression":
            tokens, mask = self._tokens(sentences1, sentences2)
            logits = self.head(_masked_mean(tokens, mask))
        else:
            t1, m1 = self._tokens(sentences1)
            t2, m2 = self._tokens(sentences2)
            if self.architecture == "siamese":
                logits = self.head(_pair_features(_masked_mean(t1, m1), _masked_mean(t2, m2)))
            else:
                logits = self.head.mlp(self._cross(t1, m1, t2, m2))
        return torch.sigmoid(logits.squeeze(-1))

    def _cross(self, t1, m1, t2, m2):
        attend = self.head.attention
        a, _ = attend(t1, t2, t2, key_padding_mask=m2 == 0, need_weights=False)
        b, _ = attend(t2, t1, t1, key_padding_mask=m1 == 0, need_weights=False)
        a = self.head.norm(t1 + a)
        b = self.head.norm(t2 + b)
        return _pair_features(_masked_mean(a, m1), _masked_mean(b, m2))

    @torch.no_grad()
    def predict(self, sentences1: list[str], sentences2: list[str], *, batch_size: int = 32,
                show_progress: bool | None = None) -> np.ndarray:
        """Scores in [0, 1] for each pair (float64), in eval mode, batched by length."""
        from tqdm.auto import tqdm

        from frasi.progress import show_progress_default

        if len(sentences1) != len(sentences2):
            raise InputError(f"got {len(sentences1)} first and {len(sentences2)} second sentences; "
                             "expected one second sentence per first")
        was_training = self.training
        self.eval()
        order = np.argsort([-(len(a) + len(b)) for a, b in zip(sentences1, sentences2)], kind="stable")
        out = np.empty(len(order), dtype=np.float64)
        show = show_progress_default() if show_progress is None else show_progress
        for start in tqdm(range(0, len(order), batch_size), disable=not show, desc="scoring pairs", leave=False):
            idx = order[start : start + batch_size]
            out[idx] = self([sentences1[i] for i in idx], [sentences2[i] for i in idx]).double().numpy()
        self.train(was_training)
        return out

    # ------------------------------------------------------------ saving

    def head_config(self) -> dict[str, Any]:
        return {"format": "frasi-pair-regressor/1", "architecture": self.architecture, "hidden": self.hidden,
                "dropout": self.dropout, "heads": self.heads, "prompt": self.prompt,
                "max_length": self.max_length, "output": "sigmoid score in [0, 1]"}

    def save(self, folder: str | Path) -> Path:
        """Write ``encoder/``, ``head.safetensors`` and ``head.json`` into the empty folder ``folder``
        (use :func:`frasi._fs.atomic_dir` around it for an atomic write)."""
        from safetensors.torch import save_file

        from frasi._hf import quiet_loading
        from frasi.io import write_json

        folder = Path(folder)
        with quiet_loading():
            self.st.save(str(folder / "encoder"))
        state = {k: v.detach().contiguous() for k, v in self.head.state_dict().items()}
        save_file(state, str(folder / HEAD_FILE))
        write_json(folder / HEAD_CONFIG, self.head_config())
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PairRegressor:
        """Rebuild a saved pair model (eval mode)."""
        from safetensors.torch import load_file

        from frasi.encoder import Encoder

        folder = Path(folder)
        config_path = folder / HEAD_CONFIG
        if not config_path.is_file() or not (folder / HEAD_FILE).is_file():
            raise ModelLoadError(f"{folder} lacks {HEAD_CONFIG} or {HEAD_FILE}; expected a folder written by "
                                 "frasi train architecture")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        encoder = Encoder.load(folder / "encoder", backend="torch")
        model = cls(encoder.model, config["architecture"], prompt=config.get("prompt", ""),
                    dropout=config.get("dropout", 0.1), heads=config.get("heads"))
        try:
            model.head.load_state_dict(load_file(str(folder / HEAD_FILE)))
        except RuntimeError as exc:
            first = first_line(exc)
            raise ModelLoadError(f"the head in {folder} does not fit its config ({first}); re-save the model") \
                from None
        return model.eval()
