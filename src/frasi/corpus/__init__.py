"""Corpora beyond one process: embed, index and verify millions of texts on Dask, resumable, exactly once.

    >>> import frasi.corpus
    >>> result = frasi.corpus.embed(["docs/*.jsonl"], "docs-e5", workers=2)   # a local cluster on 127.0.0.1
    >>> frasi.corpus.verify("docs-e5").ok                                     # every input row once
    True
    >>> frasi.corpus.index("docs-e5").recall_at_10                            # faiss, streamed from the parts
    >>> hits = frasi.corpus.CorpusIndex("docs-e5").search(query_vectors, top_k=5)

``embed`` cuts the inputs into shards (:mod:`.shards`), runs one task per shard on Dask
workers that each load the model once (:mod:`.worker`), writes one parquet part per shard
(:mod:`.parts`) and records it in the output's manifest (:mod:`.manifest`); a rerun keeps
what is done (:mod:`.driver`). ``index`` builds a faiss index from the parts
(:mod:`.indexing`); ``verify`` checks the parts against the manifest (:mod:`.verification`).
Needs ``frasi[dask]`` (and ``frasi[faiss]`` for the index).
"""

from .driver import EmbedResult, embed
from .indexing import CorpusIndex, Hit, IndexResult, corpus_folder, index
from .shards import DEFAULT_SHARD_SIZE
from .verification import VerifyReport, verify

__all__ = ["DEFAULT_SHARD_SIZE", "CorpusIndex", "EmbedResult", "Hit", "IndexResult", "VerifyReport",
           "corpus_folder", "embed", "index", "verify"]
