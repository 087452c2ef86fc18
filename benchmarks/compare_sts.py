"""Architecture comparison on STSb (CPU): ``frasi.train.compare`` on real data, with the targets.

Trains the chosen architectures on the stsb_multi_mt train files of the chosen languages
with the same settings and seeds, selects each on the pooled dev files, scores each test
file once, and checks the issue's targets: Pearson >= 80 (x100) on STSb-en test for the
seed's three architectures (regression, siamese, cross-attention), Spearman >= 88 for the
cross-encoder.

    # the seed's three architectures and the cross-encoder, from all-MiniLM-L6-v2, English
    PYTHONPATH=src python benchmarks/compare_sts.py --model all-MiniLM-L6-v2 --langs en \\
        --arch regression siamese cross-attention cross-encoder

Results: benchmarks/results/compare_sts-<model>-<langs>.json (the report, machine and
targets) and the report folder (models, report.md/csv/json, PNG plots) in --report-dir
(default /tmp/frasi-bench/compare-<model>-<langs>); --copy-plots copies the PNGs and
report.md next to the JSON.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import _common as C

PEARSON_TARGETS = {"regression": 80.0, "siamese": 80.0, "cross-attention": 80.0}  # x100, STSb-en test
SPEARMAN_TARGETS = {"cross-encoder": 88.0, "bi-encoder": 86.0}  # x100, STSb-en test (bi-encoder: from e5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["regression", "siamese", "cross-attention", "cross-encoder"])
    C.add_training_arguments(parser, langs=["en"], model="all-MiniLM-L6-v2", batch_size=16, lr=2e-5,
                             max_seq_length=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--report-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--copy-plots", action="store_true")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("frasi").setLevel(logging.INFO)
    from frasi.train import compare

    tag = f"{args.model}-{'-'.join(args.langs)}"
    config = C.training_config(args, seed=args.seeds[0])
    report_dir = args.report_dir or Path("/tmp/frasi-bench") / f"compare-{tag}"
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    started, load_start, wall = C.now_utc(), C.load_average(), time.perf_counter()
    result = compare(config, report_dir, architectures=args.arch, seeds=args.seeds, resume=args.resume)
    wall = time.perf_counter() - wall

    targets = {}
    for row in result.rows:
        if row["test_file"] != "stsb-en-test.csv":
            continue
        arch = row["architecture"]
        if arch in PEARSON_TARGETS:
            targets[f"{row['model']}: pearson_en>={PEARSON_TARGETS[arch]}"] = row["pearson"] >= PEARSON_TARGETS[arch]
        if arch in SPEARMAN_TARGETS and arch == "cross-encoder":
            targets[f"{row['model']}: spearman_en>={SPEARMAN_TARGETS[arch]}"] = (
                row["spearman"] >= SPEARMAN_TARGETS[arch])
    payload = {
        "benchmark": "compare_sts",
        "description": ("frasi.train.compare on stsb_multi_mt: each architecture trained on the train files, "
                        "selected on the pooled dev files, each test file scored once (x100, 95% bootstrap CI)."),
        "date": started,
        "finished": C.now_utc(),
        "machine": {**C.machine_info(), "load_average_at_start": load_start, "load_average_at_end": C.load_average()},
        "wall_seconds_total": round(wall, 1),
        "targets_met": targets,
        "report_dir": str(report_dir),
        "report": result.report,
    }
    output = args.output or C.RESULTS_DIR / f"compare_sts-{tag}.json"
    C.save_results(output, payload)
    if args.copy_plots and output.with_suffix("").resolve() != report_dir.resolve():
        extra = output.with_suffix("")
        extra.mkdir(exist_ok=True)
        for file in [report_dir / "report.md", *sorted(report_dir.glob("*.png"))]:
            shutil.copy2(file, extra / file.name)
    rows = [[r["model"], r["test_file"], r["spearman"], r["pearson"], r["train_seconds"], r["pairs_per_second"]]
            for r in result.rows]
    print(C.format_table(["model", "test", "spearman", "pearson", "train s", "pairs/s"], rows))
    for name, met in targets.items():
        print(f"{'met    ' if met else 'NOT met'}  {name}")
    print(f"total {wall:.0f} s -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
