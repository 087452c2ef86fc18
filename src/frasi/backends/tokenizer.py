"""The model's fast tokenizer through the ``tokenizers`` library alone (no transformers, no torch).

The export saves the loaded model's own fast tokenizer (``tokenizer.json``, lowercasing
included when the model lowercases), so the ids are the ones sentence-transformers
feeds the model. :class:`FastTokenizer` is callable like the part of a transformers
tokenizer that :class:`frasi.Encoder` uses.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# transformers' clean_up_tokenization, applied to decoded text when the model asks for it.
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class FastTokenizer:
    """A ``tokenizer.json`` with truncation at ``max_length`` on request (cutting the end, or the
    start when ``truncation_side`` is ``"left"``, as the model's transformers tokenizer does) and no padding."""

    def __init__(self, path: Path, *, max_length: int, clean_up_spaces: bool = False,
                 truncation_side: str = "right") -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._truncating: int | None = None
        self._lock = threading.Lock()  # truncation is a setting of the shared Rust object
        self.max_length = max_length
        self.clean_up_spaces = clean_up_spaces
        self.truncation_side = truncation_side

    def _encode(self, texts: list[str], *, add_special_tokens: bool, max_length: int | None) -> list[Any]:
        with self._lock:
            if max_length != self._truncating:
                if max_length is None:
                    self._tokenizer.no_truncation()
                else:
                    self._tokenizer.enable_truncation(max_length, direction=self.truncation_side)
                self._truncating = max_length
            return self._tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)

    def ids_and_truncated(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Model input ids of ``texts`` (special tokens added, cut at ``max_length``) and how many were cut."""
        encodings = self._encode(list(texts), add_special_tokens=True, max_length=self.max_length)
        return [e.ids for e in encodings], sum(1 for e in encodings if e.overflowing)

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Model input ids of ``texts``: special tokens added, truncated at ``max_length``."""
        return self.ids_and_truncated(texts)[0]

    def __call__(self, text: str | Sequence[str], *, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, return_offsets_mapping: bool = False) -> dict[str, Any]:
        single = isinstance(text, str)
        limit = (max_length or self.max_length) if truncation else None
        encodings = self._encode([text] if single else list(text), add_special_tokens=add_special_tokens,
                                 max_length=limit)
        out: dict[str, Any] = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        return {k: v[0] for k, v in out.items()} if single else out

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._tokenizer.id_to_token(i) for i in ids]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        text = self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
        if self.clean_up_spaces:
            for old, new in _CLEANUP:
                text = text.replace(old, new)
        return text
