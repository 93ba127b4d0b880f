"""Synthetic order settings against the real file: for each setting (SynthSettings fields, `--set` once per
candidate), the sequence gain (build/calibration.py sequence_gain: the hybrid against itself without its sequence
part on the build's temporal holdout) and the order-blind models' NDCG@10 (3 folds, as the calibration test), per
seed, beside the real file's. What docs/data.md's "The order's worth" table was measured with.

    python bench/synth_order_search.py --seeds 5,6 --set '{"follow_share": 1.0}' --set '{}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import docs_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.calibration import TOPN_MODELS, protocol_scores, sequence_gain
from latentlens.build.data.synth import SynthSettings, write_synthetic
from latentlens.build.settings import EvaluationSettings

PROTOCOL = EvaluationSettings(folds=3)


def measure(path: Path) -> str:
    """One line: the gain, the hybrid's NDCG@10 with and without its sequence part, the order-blind models'."""
    gain, ndcg = sequence_gain(path)
    topn = protocol_scores(path, TOPN_MODELS, evaluation=PROTOCOL)
    models = " ".join(f"{m} {topn[m]['ndcg_at_10']:.4f}" for m in TOPN_MODELS)
    return f"gain {gain:+6.1%} (hybrid {ndcg['hybrid']:.4f} / {ndcg['hybrid_without_sequence']:.4f})  {models}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "ml-latest-small")
    ap.add_argument("--seeds", default="5")
    ap.add_argument("--set", action="append", default=[], help="JSON object of SynthSettings fields")
    ap.add_argument("--no-real", action="store_true", help="skip the real file's line")
    args = ap.parse_args()
    if not args.no_real:
        print(f"real {args.data.name}: {measure(args.data)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.set or ["{}"]:
            fields = json.loads(text)
            print(f"settings {json.dumps(fields)}", flush=True)
            for seed in (int(s) for s in args.seeds.split(",")):
                started = time.perf_counter()
                out = Path(tmp) / f"synth-{seed}"
                write_synthetic(out, replace(SynthSettings.preset("small", seed=seed), **fields), force=True)
                print(f"  seed {seed}: {measure(out)}  ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
