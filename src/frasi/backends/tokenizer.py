"""The model's fast tokenizer without transformers or torch: exact ids, loaded quickly.

The export saves the loaded model's own fast tokenizer (``tokenizer.json``, lowercasing
included when the model lowercases), so the ids are the ones sentence-transformers feeds
the model. :class:`FastTokenizer` is callable like the part of a transformers tokenizer
that :class:`frasi.Encoder` uses.

SentencePiece-style Unigram tokenizers (XLM-R's, so e5's) also get a ``tokenizer.model``
for the ``sentencepiece`` library, built from ``tokenizer.json`` at export, and the same
pieces sorted in ``tokenizer.vocab.npz``. ``tokenizers`` takes 0.6 s and 250 MB to load
e5's vocabulary, and the whole sentencepiece model 0.35 s, most of a command's cold start;
a few short texts are instead tokenized by a sentencepiece model of just their own pieces,
built in milliseconds (see :class:`_SentencePiece`). The two libraries agree except where
their algorithms are known to part, so those texts go to ``tokenizers`` (loaded on first
need): a tie between equally likely splits, an unknown character (fused into one
``<unk>`` by ``tokenizers``, not by sentencepiece), combining marks and format characters
(normalised per grapheme by ``tokenizers``), Hangul jamo, U+0085 and the special tokens'
own strings. On 198,915 real texts (every STSb split in 11 languages, every UMSAB tweet)
both sentencepiece paths give ``tokenizers``' ids exactly, and 0.3% of the texts take the
``tokenizers`` path (``benchmarks/runtime_tokenizer_parity.py``); every export is checked
on sample texts as well.
"""

from __future__ import annotations

import base64
import json
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# transformers' clean_up_tokenization, applied to decoded text when the model asks for it.
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))
SENTENCEPIECE_FILE = "tokenizer.model"
VOCABULARY_FILE = "tokenizer.vocab.npz"  # the pieces, sorted, for models of just the pieces a text needs
SUBSET_MAX_CHARS = 4096  # inputs up to this many characters use a model of their own pieces
SUBSET_CALLS = 8  # after this many small inputs a process loads the full model once
_TIE = 1e-5  # relative score difference under which two splits count as equally likely
_JAMO = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF), (0xFFA0, 0xFFDC))


def _unsure(char: str) -> bool:
    """Whether the two libraries may normalise ``char`` (and what follows it) differently."""
    code = ord(char)
    category = unicodedata.category(char)
    return (category[0] == "M" or category == "Cf" or code == 0x85 or any(a <= code <= b for a, b in _JAMO)
            or any(unicodedata.category(c)[0] == "M" for c in unicodedata.normalize("NFKC", char)))


class _SentencePiece:
    """sentencepiece over a Unigram ``tokenizer.json``, for the texts where it gives the same ids.

    Loading the whole model builds a trie of every piece (e5: 250,002 pieces, 0.35 s). A few
    short texts need far fewer: the pieces that occur in them. So for small inputs a model of
    just those pieces is built from ``tokenizer.vocab.npz`` (the pieces sorted for a binary
    search, their ids and scores) in a few milliseconds; it has the same normaliser, the same
    special pieces and the same lowest and highest scores (which set the unknown-piece
    penalty), so its segmentation lattice and its ids are the full model's. Larger inputs,
    and a process that keeps tokenizing, load the full model once.
    """

    def __init__(self, folder: Path, spec: dict[str, Any], *, subset_max_chars: int = SUBSET_MAX_CHARS,
                 subset_calls: int = SUBSET_CALLS) -> None:
        self.folder = folder
        self.first, self.last = spec["first"], spec["last"]
        self.unk = spec["unk"]
        self.specials = tuple(spec["specials"])
        self.subset_max_chars, self.subset_calls = subset_max_chars, subset_calls
        self._unsure: dict[str, bool] = {}
        self._full: Any = None
        self._subset_calls = 0
        self._vocabulary: dict[str, Any] | None = None

    @property
    def full(self) -> Any:
        """The whole ``tokenizer.model`` (loaded on first use)."""
        if self._full is None:
            import sentencepiece

            self._full = sentencepiece.SentencePieceProcessor(model_file=str(self.folder / SENTENCEPIECE_FILE))
        return self._full

    def _subset_for(self, texts: list[str]) -> tuple[Any, np.ndarray] | None:
        """A model of the pieces in ``texts`` and its ids' global ids; None where the full model is better."""
        if (self._full is not None or sum(map(len, texts)) > self.subset_max_chars
                or self._subset_calls >= self.subset_calls or not (self.folder / VOCABULARY_FILE).is_file()):
            return None
        self._subset_calls += 1
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2 as pb

        if self._vocabulary is None:
            with np.load(self.folder / VOCABULARY_FILE) as arrays:
                self._vocabulary = {name: arrays[name] for name in arrays.files}
                self._vocabulary["normalizer"] = sentencepiece.SentencePieceNormalizer(
                    model_proto=self._vocabulary["base"].tobytes())
        vocab = self._vocabulary
        longest = int(vocab["longest"])
        found: set[str] = set()
        for text in texts:
            norm = vocab["normalizer"].normalize(text)
            found.update(norm[i:j] for i in range(len(norm)) for j in range(i + 1, min(len(norm), i + longest) + 1))
        pieces = vocab["pieces"]
        wanted = np.array([f.encode() for f in found], dtype=pieces.dtype)
        at = np.minimum(np.searchsorted(pieces, wanted), len(pieces) - 1)
        at = np.unique(at[pieces[at] == wanted])
        at = at[~np.isin(vocab["ids"][at], vocab["base_ids"])]
        model = pb.ModelProto()
        model.ParseFromString(vocab["base"].tobytes())
        for piece, piece_id in zip(pieces[at], vocab["ids"][at]):
            entry = model.pieces.add()
            entry.piece, entry.score = piece.decode(), float(vocab["scores"][piece_id])
        processor = sentencepiece.SentencePieceProcessor(model_proto=model.SerializeToString())
        return processor, np.concatenate([vocab["base_ids"], vocab["ids"][at]])

    def ids_many(self, texts: list[str]) -> list[list[int] | None]:
        """The ids between the special tokens of each text, or None where ``tokenizers`` must decide."""
        out: list[list[int] | None] = [None] * len(texts)
        sure = [i for i, text in enumerate(texts) if self._sure(text)]
        if not sure:
            return out
        subset = self._subset_for([texts[i] for i in sure])
        processor, global_ids = subset if subset is not None else (self.full, None)
        for i in sure:
            best = processor.nbest_encode_as_proto(texts[i], 2).nbests
            if len(best) > 1 and abs(best[0].score - best[1].score) <= _TIE * max(1.0, abs(best[0].score)):
                continue
            ids = [piece.id for piece in best[0].pieces]
            if global_ids is not None:
                ids = global_ids[ids].tolist()
            if self.unk not in ids:
                out[i] = ids
        return out

    def _sure(self, text: str) -> bool:
        """Whether the two libraries are known to agree on ``text``'s characters."""
        if any(s in text for s in self.specials):
            return False
        if not text.isascii():
            for char in set(text):
                if char not in self._unsure:
                    self._unsure[char] = _unsure(char)
                if self._unsure[char]:
                    return False
        return True


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
    _write_vocabulary(model, out)
    return spec


def _write_vocabulary(model: Any, out: Path) -> None:
    """``tokenizer.vocab.npz``: what :class:`_SentencePiece` builds a model of a text's own pieces from."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    normal = pb.ModelProto.SentencePiece.NORMAL
    pieces = [p.piece.encode() for p in model.pieces]
    if any(b"\0" in p for p in pieces):  # numpy's bytes arrays drop trailing NULs: no binary search then
        return
    scores = np.array([p.score for p in model.pieces], dtype=np.float32)
    kinds = np.array([p.type for p in model.pieces])
    normal_ids = np.flatnonzero(kinds == normal)
    extremes = {int(normal_ids[scores[normal_ids].argmin()]), int(normal_ids[scores[normal_ids].argmax()])}
    base_ids = np.array(sorted(set(np.flatnonzero(kinds != normal).tolist()) | extremes), dtype=np.int64)
    base = pb.ModelProto()
    base.CopyFrom(model)
    del base.pieces[:]
    for i in base_ids:
        base.pieces.add().CopyFrom(model.pieces[int(i)])
    local = {int(g): i for i, g in enumerate(base_ids)}
    trainer = base.trainer_spec
    trainer.unk_id, trainer.bos_id, trainer.eos_id = local[trainer.unk_id], local[trainer.bos_id], local[trainer.eos_id]
    order = np.argsort(np.array(pieces, dtype=object), kind="stable")
    np.savez(out / VOCABULARY_FILE, pieces=np.array([pieces[i] for i in order]), ids=order.astype(np.int64),
             scores=scores, base_ids=base_ids, base=np.frombuffer(base.SerializeToString(), dtype=np.uint8),
             longest=np.int64(max(len(p.piece) for p in model.pieces)))


class FastTokenizer:
    """A ``tokenizer.json`` with truncation at ``max_length`` on request (cutting the end, or the
    start when ``truncation_side`` is ``"left"``, as the model's transformers tokenizer does) and no padding.

    ``sentencepiece`` (the spec :func:`build_sentencepiece` returned) takes the ids of most texts from
    ``tokenizer.model`` beside ``path``; ``tokenizers`` loads only when a text or a call needs it.
    """

    def __init__(self, path: Path, *, max_length: int, clean_up_spaces: bool = False,
                 truncation_side: str = "right", sentencepiece: dict[str, Any] | None = None,
                 subset: dict[str, int] | None = None) -> None:
        self.path = Path(path)
        self.max_length = max_length
        self.clean_up_spaces = clean_up_spaces
        self.truncation_side = truncation_side
        self._lock = threading.Lock()  # truncation is a setting of the shared Rust object
        self._tokenizer: Any = None
        self._truncating: int | None = None
        self._sentencepiece = None
        if sentencepiece is not None and (self.path.parent / SENTENCEPIECE_FILE).is_file():
            self._sentencepiece = _SentencePiece(self.path.parent, sentencepiece, **(subset or {}))

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
            for i, ids in enumerate(sp.ids_many(texts)):
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

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text with the special tokens, before any truncation (compare with ``max_length``)."""
        texts = list(texts)
        out: list[int | None] = [None] * len(texts)
        if self._sentencepiece is not None:
            for i, ids in enumerate(self._sentencepiece.ids_many(texts)):
                if ids is not None:
                    out[i] = len(ids) + 2
        rest = [i for i, n in enumerate(out) if n is None]
        if rest:
            encodings = self._encode([texts[i] for i in rest], add_special_tokens=True, max_length=None)
            for i, encoding in zip(rest, encodings):
                out[i] = len(encoding.ids)
        return out  # type: ignore[return-value]

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
