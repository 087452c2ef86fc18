"""The model's fast tokenizer without transformers or torch: exact ids, loaded quickly.

The export saves the loaded model's own fast tokenizer (``tokenizer.json``, lowercasing
included when the model lowercases), so the ids are the ones sentence-transformers feeds
the model. :class:`FastTokenizer` is callable like the part of a transformers tokenizer
that :class:`frasi.Encoder` uses.

SentencePiece-style Unigram tokenizers (XLM-R's, so e5's) also get a ``tokenizer.model``
for the ``sentencepiece`` library, built from ``tokenizer.json`` at export: it loads in
half the time and a fifth of the memory of ``tokenizers`` (e5: 0.3 s and 50 MB, against
0.6 s and 250 MB), which is most of a command's cold start. The two libraries agree
except where their algorithms are known to part, so those texts go to ``tokenizers``
(loaded on first need): a tie between equally likely splits, an unknown character (fused
into one ``<unk>`` by ``tokenizers``, not by sentencepiece), combining marks and format
characters (normalised per grapheme by ``tokenizers``), Hangul jamo, U+0085 and the
special tokens' own strings. On 176,921 real sentences and tweets in 11 languages the ids
are identical (0.1-0.4% of sentences and 1.7-2.4% of tweets take the ``tokenizers`` path;
``benchmarks/tokenizer_parity.py``), and every export is checked on sample texts.
"""

from __future__ import annotations

import base64
import json
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# transformers' clean_up_tokenization, applied to decoded text when the model asks for it.
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))
SENTENCEPIECE_FILE = "tokenizer.model"
_TIE = 1e-5  # relative score difference under which two splits count as equally likely
_JAMO = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF), (0xFFA0, 0xFFDC))


def _unsure(char: str) -> bool:
    """Whether the two libraries may normalise ``char`` (and what follows it) differently."""
    code = ord(char)
    category = unicodedata.category(char)
    return (category[0] == "M" or category == "Cf" or code == 0x85 or any(a <= code <= b for a, b in _JAMO)
            or any(unicodedata.category(c)[0] == "M" for c in unicodedata.normalize("NFKC", char)))


class _SentencePiece:
    """sentencepiece over a Unigram ``tokenizer.json``, for the texts where it gives the same ids."""

    def __init__(self, model_file: Path, spec: dict[str, Any]) -> None:
        import sentencepiece

        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self.first, self.last = spec["first"], spec["last"]
        self.unk = spec["unk"]
        self.specials = tuple(spec["specials"])
        self._unsure: dict[str, bool] = {}

    def ids(self, text: str) -> list[int] | None:
        """The ids between the special tokens, or None when ``tokenizers`` must decide."""
        if any(s in text for s in self.specials):
            return None
        if not text.isascii():
            for char in set(text):
                if char not in self._unsure:
                    self._unsure[char] = _unsure(char)
                if self._unsure[char]:
                    return None
        best = self.processor.nbest_encode_as_proto(text, 2).nbests
        if len(best) > 1 and abs(best[0].score - best[1].score) <= _TIE * max(1.0, abs(best[0].score)):
            return None
        ids = [piece.id for piece in best[0].pieces]
        return None if self.unk in ids else ids


def sentencepiece_spec(tokenizer: dict[str, Any]) -> dict[str, Any] | None:
    """What the sentencepiece path needs, when ``tokenizer`` (a parsed tokenizer.json) is a SentencePiece-style
    Unigram: Precompiled normalizer, whitespace split then Metaspace, one special token on each side."""
    model = tokenizer.get("model") or {}
    normalizer = tokenizer.get("normalizer") or {}
    pre = tokenizer.get("pre_tokenizer") or {}
    post = tokenizer.get("post_processor") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or normalizer.get("type") != "Precompiled":
        return None
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or [s.get("type") for s in steps] != ["WhitespaceSplit", "Metaspace"]:
        return None
    if (steps[1].get("replacement"), steps[1].get("prepend_scheme"), steps[1].get("split")) != ("▁", "always", True):
        return None
    single = post.get("single") if post.get("type") == "TemplateProcessing" else None
    if not single or len(single) != 3 or "Sequence" not in single[1] or any("SpecialToken" not in single[i]
                                                                           for i in (0, 2)):
        return None
    vocab = {piece: i for i, (piece, _) in enumerate(model["vocab"])}
    first, last = (single[i]["SpecialToken"]["id"] for i in (0, 2))
    if first not in vocab or last not in vocab or tokenizer.get("truncation") or tokenizer.get("padding"):
        return None
    return {"first": vocab[first], "last": vocab[last], "unk": model["unk_id"],
            "specials": [t["content"] for t in tokenizer.get("added_tokens", [])]}


def build_sentencepiece(tokenizer_json: Path, out: Path) -> dict[str, Any] | None:
    """Write ``tokenizer.model`` (a sentencepiece Unigram model with the same pieces, scores and
    normaliser) beside ``tokenizer.json`` when it qualifies; return the spec the runtime needs, or None."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    tokenizer = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    spec = sentencepiece_spec(tokenizer)
    if spec is None:
        return None
    model = pb.ModelProto()
    specials = {t["id"] for t in tokenizer.get("added_tokens", [])}
    unk = tokenizer["model"]["unk_id"]
    for i, (piece, score) in enumerate(tokenizer["model"]["vocab"]):
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = (pb.ModelProto.SentencePiece.UNKNOWN if i == unk else pb.ModelProto.SentencePiece.CONTROL
                      if i in specials else pb.ModelProto.SentencePiece.NORMAL)
    trainer = model.trainer_spec
    trainer.model_type = pb.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(tokenizer["model"]["vocab"])
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = unk, spec["first"], spec["last"], -1
    normalizer = model.normalizer_spec
    normalizer.name = "nmt_nfkc"
    normalizer.precompiled_charsmap = base64.b64decode(tokenizer["normalizer"]["precompiled_charsmap"])
    normalizer.add_dummy_prefix = normalizer.remove_extra_whitespaces = normalizer.escape_whitespaces = True
    (out / SENTENCEPIECE_FILE).write_bytes(model.SerializeToString())
    return spec


class FastTokenizer:
    """A ``tokenizer.json`` with truncation at ``max_length`` on request (cutting the end, or the
    start when ``truncation_side`` is ``"left"``, as the model's transformers tokenizer does) and no padding.

    ``sentencepiece`` (the spec :func:`build_sentencepiece` returned) takes the ids of most texts from
    ``tokenizer.model`` beside ``path``; ``tokenizers`` loads only when a text or a call needs it.
    """

    def __init__(self, path: Path, *, max_length: int, clean_up_spaces: bool = False,
                 truncation_side: str = "right", sentencepiece: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.max_length = max_length
        self.clean_up_spaces = clean_up_spaces
        self.truncation_side = truncation_side
        self._lock = threading.Lock()  # truncation is a setting of the shared Rust object
        self._tokenizer: Any = None
        self._truncating: int | None = None
        self._sentencepiece = None
        if sentencepiece is not None and (self.path.parent / SENTENCEPIECE_FILE).is_file():
            self._sentencepiece = _SentencePiece(self.path.parent / SENTENCEPIECE_FILE, sentencepiece)

    @property
    def tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer`` (loaded on first use)."""
        with self._lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                self._tokenizer = Tokenizer.from_file(str(self.path))
                self._tokenizer.no_padding()
                self._tokenizer.no_truncation()
            return self._tokenizer

    def _encode(self, texts: list[str], *, add_special_tokens: bool, max_length: int | None) -> list[Any]:
        tokenizer = self.tokenizer
        with self._lock:
            if max_length != self._truncating:
                if max_length is None:
                    tokenizer.no_truncation()
                else:
                    tokenizer.enable_truncation(max_length, direction=self.truncation_side)
                self._truncating = max_length
            return tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)

    def ids_and_truncated(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Model input ids of ``texts`` (special tokens added, cut at ``max_length``) and how many were cut."""
        texts = list(texts)
        out: list[list[int] | None] = [None] * len(texts)
        truncated = 0
        if self._sentencepiece is not None:
            sp, room = self._sentencepiece, self.max_length - 2
            for i, text in enumerate(texts):
                ids = sp.ids(text)
                if ids is None:
                    continue
                if len(ids) > room:
                    truncated += 1
                    ids = ids[:room] if self.truncation_side == "right" else ids[len(ids) - room:]
                out[i] = [sp.first, *ids, sp.last]
        rest = [i for i, ids in enumerate(out) if ids is None]
        if rest:
            encodings = self._encode([texts[i] for i in rest], add_special_tokens=True, max_length=self.max_length)
            for i, encoding in zip(rest, encodings):
                out[i] = encoding.ids
            truncated += sum(1 for e in encodings if e.overflowing)
        return out, truncated  # type: ignore[return-value]

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
        tokenizer = self.tokenizer
        return [tokenizer.id_to_token(i) for i in ids]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
        if self.clean_up_spaces:
            for old, new in _CLEANUP:
                text = text.replace(old, new)
        return text
