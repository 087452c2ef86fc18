"""The plain reference server of benchmarks/serve_load.py: FastAPI + sentence-transformers, as one writes it by hand.

One ``/v1/embeddings`` endpoint (OpenAI's shape, float or base64) that calls
``SentenceTransformer.encode`` for each request on FastAPI's thread pool: no batching across
requests, no queue, no limits. It binds 127.0.0.1 only.

    PYTHONPATH=src python benchmarks/serve_plain_st.py --model FOLDER --port 8001 --threads 2 --prompt "query: "
"""

from __future__ import annotations

import argparse
import base64

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a sentence-transformers folder")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", default="")
    args = parser.parse_args()

    import torch
    import uvicorn
    from fastapi import FastAPI
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model, device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/embeddings")
    def embeddings(body: dict) -> dict:
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        vectors = model.encode(texts, prompt=args.prompt, batch_size=32, convert_to_numpy=True).astype(np.float32)
        if body.get("encoding_format") == "base64":
            data = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            data = vectors.tolist()
        return {"object": "list", "model": "plain", "data": [{"object": "embedding", "index": i, "embedding": e}
                                                              for i, e in enumerate(data)]}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
