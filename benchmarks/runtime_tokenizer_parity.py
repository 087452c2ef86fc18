"""Runtime tokenizer parity: the ids e5's export feeds the model, against ``tokenizers`` on tokenizer.json.

An exported e5 tokenizes with the ``sentencepiece`` library (``frasi.backends.tokenizer``):
a few short texts with a model built of just their own pieces, larger inputs with the
whole ``tokenizer.model``; texts where sentencepiece and ``tokenizers`` are known to part
go to ``tokenizers``. This script tokenizes every real text of ``../shared/data`` three
ways and counts the texts whose ids (special tokens included, cut at 512 tokens) differ
from ``tokenizers``:

- ``subset``: groups of five texts, each group with a model of its own pieces (as a
  one-line ``frasi similarity`` does),
- ``full``: the whole sentencepiece model,
- and how many texts each way sends to ``tokenizers``.

Texts: every split of STSb in 11 languages (stsb_multi_mt), and every split of the UMSAB
tweets (es / it / en).

    PYTHONPATH=src python benchmarks/runtime_tokenizer_parity.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common as C

GROUP = 5  # texts per call on the subset path, like a one-line command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--limit", type=int, default=None, help="only the first N texts (a smoke run)")
    p.add_argument("--output", type=Path, default=None)
    return p.parse_args(argv)


def real_texts(data_dir: Path) -> list[tuple[str, str]]:
    items = []
    for lang in C.STSB_MULTI_MT_LANGS:
        for split in ("train", "dev", "test"):
            for s1, s2, _ in C.read_stsb_multi_mt(data_dir, lang, split):
                items += [(f"stsb-{lang}", s1), (f"stsb-{lang}", s2)]
    for path in sorted((data_dir / "umsab_tweet_sentiment").glob("*/*_text.txt")):
        items += [(f"tweets-{path.parent.name}", t) for t in C.read_lines(path)]
    return items


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_at_start = C.now_utc(), C.load_average()
    from frasi import Encoder
    from frasi.backends.tokenizer import FastTokenizer

    encoder = Encoder.load("multilingual-e5-small", backend="openvino")
    runtime = encoder.runtime
    folder, settings = runtime.artefact.folder, runtime.settings
    if not settings.get("sentencepiece"):
        raise SystemExit(f"the export in {folder} has no sentencepiece path")
    items = real_texts(args.data_dir)[: args.limit]
    texts = [t for _, t in items]
    print(f"{len(texts)} texts from {args.data_dir}", flush=True)
    kwargs = {"max_length": settings["max_length"], "truncation_side": settings.get("truncation_side", "right")}

    started_at = time.perf_counter()
    exact = FastTokenizer(folder / "tokenizer.json", **kwargs).ids(texts)
    seconds = {"tokenizers": time.perf_counter() - started_at}
    full_tok = FastTokenizer(folder / "tokenizer.json", sentencepiece=settings["sentencepiece"],
                             subset={"subset_max_chars": 0}, **kwargs)
    started_at = time.perf_counter()
    full = full_tok.ids(texts)
    seconds["full"] = time.perf_counter() - started_at
    subset_tok = FastTokenizer(folder / "tokenizer.json", sentencepiece=settings["sentencepiece"],
                               subset={"subset_max_chars": 10**9, "subset_calls": 10**9}, **kwargs)
    started_at = time.perf_counter()
    subset = [ids for start in range(0, len(texts), GROUP) for ids in subset_tok.ids(texts[start:start + GROUP])]
    seconds["subset"] = time.perf_counter() - started_at
    deferred = sum(ids is None for ids in subset_tok._sentencepiece.ids_many(texts))

    sources: dict[str, dict[str, int]] = {}
    examples = []
    for (source, text), want, a, b in zip(items, exact, full, subset):
        row = sources.setdefault(source, {"texts": 0, "full_differs": 0, "subset_differs": 0})
        row["texts"] += 1
        row["full_differs"] += a != want
        row["subset_differs"] += b != want
        if (a != want or b != want) and len(examples) < 10:
            examples.append({"source": source, "text": text, "tokenizers": want, "full": a, "subset": b})
    total = {k: sum(r[k] for r in sources.values()) for k in ("texts", "full_differs", "subset_differs")}
    print(C.format_table(["source", "texts", "full differs", "subset differs"],
                         [[s, r["texts"], r["full_differs"], r["subset_differs"]] for s, r in sources.items()]
                         + [["TOTAL", total["texts"], total["full_differs"], total["subset_differs"]]]))
    print(f"sent to tokenizers (known to part): {deferred} of {len(texts)}; seconds: "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    C.save_run("runtime_tokenizer_parity", __doc__.split("\n\n")[0], started, load_at_start,
               {"data_dir": str(args.data_dir), "limit": args.limit, "group": GROUP, "export": str(folder)},
               args.output, total=total, sent_to_tokenizers=deferred, seconds=seconds, per_source=sources,
               examples=examples)
    return 0 if total["full_differs"] == total["subset_differs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
