"""Compose a sentence encoder from any transformer encoder folder.

The stack is the one seed notebooks build by hand::

    Transformer -> Pooling (cls | mean | max | weightedmean) -> [Dense(size, activation)] -> [Normalize]

and it is saved as a standard sentence-transformers folder that reloads identically.
"""

from __future__ import annotations

import os

from .encoder import Encoder
from .errors import InputError
from .loading import compose_modules, load_checked
from .sources import resolve


def compose(
    encoder: str | os.PathLike[str],
    *,
    pooling: str = "mean",
    dense_dim: int | None = None,
    dense_activation: str = "tanh",
    normalize: bool = True,
    max_length: int | None = None,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> Encoder:
    """Compose an :class:`~frasi.Encoder` from a plain transformer encoder.

    Args:
        encoder: a Hugging Face encoder folder (``config.json`` + weights + tokenizer) or Hub id.
        pooling: ``cls``, ``mean``, ``max`` or ``weightedmean``.
        dense_dim: add a Dense layer with this output size (seeded initialisation).
        dense_activation: the Dense layer's activation (``tanh``, ``relu``, ``gelu``, ``identity``, ``sigmoid``).
        normalize: end with L2 normalisation.
        max_length: maximum tokens per input (default: the model's).
        prompts / default_prompt_name: named prompts, as in sentence-transformers.
        seed: seed of the Dense layer's initialisation.

    Save the result with :meth:`Encoder.save`; it reloads with ``Encoder.load(path)`` or
    plain ``SentenceTransformer(path)`` and gives identical embeddings.
    """

    # Same resolution as Encoder.load: a missing folder or an unknown Hub id fails within
    # seconds with ModelNotFoundError instead of transformers' minute of retries.
    if prompts is not None and (not isinstance(prompts, dict)
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items())):
        raise InputError(f"prompts must map names to prompt texts, such as {{'query': 'query: '}}; got {prompts!r}")
    if default_prompt_name is not None and default_prompt_name not in (prompts or {}):
        raise InputError(f"default_prompt_name {default_prompt_name!r} is not one of the prompts "
                         f"({', '.join(prompts or {}) or 'none given'})")
    resolved = resolve(encoder)
    model = load_checked(resolved.path, lambda: compose_modules(
        str(resolved.path), pooling=pooling, dense_dim=dense_dim, dense_activation=dense_activation,
        normalize=normalize, max_length=max_length, prompts=prompts, default_prompt_name=default_prompt_name,
        seed=seed, device=device))
    return Encoder(model, name=resolved.name, source=resolved.source)
