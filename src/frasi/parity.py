"""How closely each backend reproduces the torch float32 reference (``frasi backends check``).

For every backend: the cosine between its embedding and torch's for each sample text
(mean, minimum and the worst text), the largest absolute difference, and, given STS
pairs, the Spearman correlation (x 100) of cosine scores with the gold scores and its
change from torch's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .backends import BACKENDS, backend_spec
from .encoder import TRUNCATION_WARNING, Encoder
from .errors import FrasiError, InputError
from .io import validate_texts
from .metrics import spearman
from .probes import PROBE_TEXTS
from .similarity import similarity_pairwise

logger = logging.getLogger(__name__)

@contextlib.contextmanager
def _truncation_said_once() -> Iterator[None]:
    """Every backend encodes the same texts: the reference has said how many were truncated."""
    encoder_logger = logging.getLogger("frasi.encoder")

    def not_truncation(record: logging.LogRecord) -> bool:
        return record.msg is not TRUNCATION_WARNING

    encoder_logger.addFilter(not_truncation)
    try:
        yield
    finally:
        encoder_logger.removeFilter(not_truncation)


def _check_pairs(stsb: Sequence[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    pairs = []
    for i, row in enumerate(stsb):
        try:
            first, second, score = row
            pairs.append((str(first), str(second), float(score)))
        except (TypeError, ValueError):
            raise InputError(f"STS pair {i} is {row!r:.60}; expected (sentence 1, sentence 2, score)") from None
    if len(pairs) < 3:
        raise InputError(f"got {len(pairs)} STS pairs; expected at least 3 to compute a correlation")
    return pairs


def check_parity(
    model: str | None = None,
    backends: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    *,
    stsb: Sequence[tuple[str, str, float]] | None = None,
    threads: int | None = None,
    cache_folder: Path | None = None,
) -> list[dict[str, Any]]:
    """Compare each backend with the torch float32 reference; one dict per backend, torch first.

    Args:
        model: a model name or folder, as for :meth:`frasi.Encoder.load` (default: the model setting).
        backends: backends to check (default: all of them). One that cannot load gets
            ``status="unavailable"`` and the reason in ``error``.
        texts: the sample to compare on (default: a built-in es/it/en sample of short and
            long texts); texts are encoded with the model's default prompt.
        stsb: optional (sentence 1, sentence 2, gold score) pairs for the STS check.
        threads: CPU threads of every backend.
    """
    names = list(backends) if backends is not None else list(BACKENDS)
    for name in names:
        backend_spec(name)
    sample = validate_texts(list(texts) if texts is not None else list(PROBE_TEXTS))
    pairs = _check_pairs(stsb) if stsb is not None else None
    sts_texts = sorted({t for a, b, _ in pairs for t in (a, b)}) if pairs else []
    gold = np.array([s for _, _, s in pairs]) if pairs else None

    def measure(encoder: Encoder) -> tuple[np.ndarray, float | None, float]:
        start = time.perf_counter()
        vectors = encoder.encode(sample)
        seconds = time.perf_counter() - start
        if not pairs:
            return vectors, None, seconds
        lookup = dict(zip(sts_texts, encoder.encode(sts_texts)))
        first = np.stack([lookup[a] for a, _, _ in pairs])
        second = np.stack([lookup[b] for _, b, _ in pairs])
        return vectors, 100 * spearman(similarity_pairwise(first, second), gold), seconds

    reference = Encoder.load(model, backend="torch", threads=threads, cache_folder=cache_folder)
    ref_vectors, ref_sts, ref_seconds = measure(reference)
    rows = []
    for name in ["torch", *[n for n in names if n != "torch"]] if "torch" in names else names:
        row: dict[str, Any] = {"backend": name, "model": reference.name, "exact": BACKENDS[name].exact,
                               "n_texts": len(sample)}
        if name == "torch":
            encoder, vectors, sts, seconds = reference, ref_vectors, ref_sts, ref_seconds
        else:
            try:
                encoder = Encoder.load(model, backend=name, threads=threads, cache_folder=cache_folder)
            except FrasiError as exc:
                row.update(status="unavailable", error=str(exc))
                rows.append(row)
                continue
            with _truncation_said_once():
                vectors, sts, seconds = measure(encoder)
        cosine = similarity_pairwise(vectors, ref_vectors)
        worst = int(np.argmin(cosine))
        row.update(status="ok", mean_cosine=float(cosine.mean()), min_cosine=float(cosine[worst]),
                   worst_text=sample[worst], max_abs_diff=float(np.abs(vectors - ref_vectors).max()),
                   threads=encoder.threads, seconds=round(seconds, 4))
        if pairs:
            row.update(stsb_pairs=len(pairs), stsb_spearman=sts, stsb_reference=ref_sts,
                       stsb_delta=None if sts is None or ref_sts is None else sts - ref_sts)
        rows.append(row)
        logger.debug("parity of %s: %s", name, row)
    return rows
