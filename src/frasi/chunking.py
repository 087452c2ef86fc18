"""Long texts embedded whole: overlapping windows of tokens, averaged.

A text longer than the model's maximum is split into windows that start and end at word
boundaries (inside a word only when one word alone exceeds the window), each window
sharing ``overlap`` tokens with its neighbour. Every window is encoded with the same
prompt, and the text's vector is the average of its windows' vectors weighted by their
token counts (L2-normalised again when the model normalises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InputError

DEFAULT_OVERLAP = 32


def window_budget(max_length: int, special_tokens: int, prompt_tokens: int, prompt: str) -> int:
    """Tokens of text a window may hold beside the prompt and the special tokens."""
    budget = max_length - special_tokens - prompt_tokens
    if budget < 8:
        raise InputError(f"the prompt {prompt!r} leaves no room for text in {max_length} tokens")
    return budget


def check_overlap(overlap: int | None, budget: int) -> int:
    """The overlap to use: ``overlap`` checked, or the default (32, at most a quarter of the window)."""
    if overlap is None:
        return min(DEFAULT_OVERLAP, budget // 4)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < budget // 2:
        raise InputError(f"chunk_overlap must be an integer in [0, {budget // 2}), got {overlap!r}")
    return overlap


def split_text(text: str, offsets: list[tuple[int, int]], *, budget: int, overlap: int,
               fits: Callable[[str], bool]) -> list[tuple[str, int]]:
    """Windows ``(piece, tokens)`` of ``text``, given its token ``offsets`` (no special tokens).

    ``fits(piece)`` says whether a piece, re-tokenized with the prompt, fits the model: a
    window cut at word boundaries always does, one cut inside a word may not and is shortened.
    """
    n = len(offsets)
    if n <= budget:
        return [(text, max(n, 1))]
    # a token starts a word when text separates it from the one before (not "##ism", not ".")
    word_start = [i == 0 or offsets[i][0] > offsets[i - 1][1] for i in range(n)] + [True]
    windows, start = [], 0
    while True:
        end = min(start + budget, n)
        cut = end
        while cut > start + 1 and not word_start[cut]:
            cut -= 1
        end = cut if word_start[cut] else end  # one word longer than the budget: cut inside it
        piece = text[offsets[start][0] : offsets[end - 1][1]]
        while end > start + 1 and not fits(piece):
            end -= 1
            piece = text[offsets[start][0] : offsets[end - 1][1]]
        if piece.strip():
            windows.append((piece, end - start))
        if end == n:
            return windows
        nxt = max(end - overlap, start + 1)
        while nxt < end and not word_start[nxt]:
            nxt += 1
        start = nxt


def average_windows(vectors: np.ndarray, owners: list[int], weights: list[int], n_texts: int, *,
                    normalize: bool) -> np.ndarray:
    """One vector per text: the token-weighted mean of its windows' vectors (float32)."""
    out = np.zeros((n_texts, vectors.shape[1]), dtype=np.float64)
    totals = np.zeros(n_texts, dtype=np.float64)
    np.add.at(out, owners, vectors * np.asarray(weights, dtype=np.float64)[:, None])
    np.add.at(totals, owners, weights)
    out /= totals[:, None]
    if normalize:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


def windows_of(texts: list[str],
               split: Callable[[str], list[tuple[str, int]]]) -> tuple[list[str], list[int], list[Any]]:
    """All windows of ``texts``, the index of the text each belongs to, and its token count."""
    windows, owners, weights = [], [], []
    for i, text in enumerate(texts):
        for piece, n_tokens in split(text):
            windows.append(piece)
            owners.append(i)
            weights.append(n_tokens)
    return windows, owners, weights
