"""Embeddings in fewer bits: ``int8`` / ``uint8`` per-dimension ranges, ``binary`` / ``ubinary`` signs.

The same arithmetic as sentence-transformers' ``quantize_embeddings`` (a test holds them
equal), in numpy, so quantizing needs no torch. int8/uint8 map each dimension's range to
256 buckets: pass ``calibration`` (float32 embeddings of a representative sample) so
vectors from separate calls share one scale; without it the ranges come from the vectors
quantized together. binary/ubinary keep one bit per dimension (> 0), packed 8 to a byte.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from .errors import InputError

logger = logging.getLogger(__name__)

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")


def check_precision(precision: str, *, calibration: Any, n_texts: int) -> None:
    """InputError for an unknown precision, or calibration where it does not apply or is missing."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if calibration is not None and precision not in ("int8", "uint8"):
        raise InputError("calibration only applies with precision 'int8' or 'uint8'")
    if precision in ("int8", "uint8") and calibration is None and n_texts < 2:
        raise InputError(
            f"precision {precision!r} calibrates its ranges on the texts encoded together and needs at least 2 "
            f"texts, got {n_texts}; pass calibration embeddings (calibration=encoder.encode(sample) in Python), "
            "encode more texts at once, or use binary/ubinary")


def check_calibration(calibration: Any, dimension: int) -> np.ndarray:
    """Calibration embeddings as a 2-D float array of the model's dimension, or an InputError."""
    array = np.asarray(calibration)
    if array.ndim != 2 or array.dtype.kind != "f":
        raise InputError(f"calibration must be a 2-D float array of embeddings (one row per text), got shape "
                         f"{array.shape} and dtype {array.dtype}; encode a list of texts, not one string")
    if array.shape[1] != dimension:
        raise InputError(f"calibration embeddings have dimension {array.shape[1]}; this model gives {dimension}")
    if not np.isfinite(array).all():
        raise InputError("calibration embeddings contain NaN or infinite values")
    return array


def _check_ranges(vectors: np.ndarray, source: str) -> None:
    """When no dimension varies (duplicate texts, a one-row calibration), every value would quantize to
    the same bucket: refuse. A few constant dimensions (dead units of a ReLU Dense layer) are harmless."""
    scale = np.abs(vectors).max(axis=0)
    flat = int((np.ptp(vectors, axis=0) <= 1e-5 * np.maximum(scale, 1e-12)).sum())  # float noise counts as flat
    if flat == vectors.shape[1]:
        raise InputError(f"no dimension varies across the {len(vectors)} row{'s' if len(vectors) != 1 else ''} of "
                         f"the {source}, so int8/uint8 cannot scale them; calibrate on several different texts "
                         "(calibration=encoder.encode(sample)) or use binary/ubinary")
    if flat:
        logger.debug("%d of %d dimensions are constant in the %s; they quantize to one value", flat,
                     vectors.shape[1], source)


def quantize(vectors: np.ndarray, precision: str, *, calibration: np.ndarray | None = None) -> np.ndarray:
    """``vectors`` (float32, 1-D or 2-D) in ``precision``."""
    if precision == "float32":
        return vectors.astype(np.float32, copy=False)
    if precision in ("binary", "ubinary"):
        packed = np.packbits(vectors > 0, axis=-1)
        return (packed - 128).astype(np.int8) if precision == "binary" else packed
    reference = vectors if calibration is None else calibration
    _check_ranges(np.atleast_2d(reference),
                  "texts encoded together" if calibration is None else "calibration embeddings")
    starts = reference.min(axis=0).astype(np.float32)
    steps = (reference.max(axis=0).astype(np.float32) - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    buckets = np.clip(np.floor((vectors - starts) / steps), 0, 255)
    return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)
