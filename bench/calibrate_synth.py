"""The synthetic generator against the real file, under the build's protocol: prints NDCG@10 of
popularity, item-kNN and EASE and the RMSE of the bias baseline, biased MF and kNN-baseline on
the embedded ml-latest-small and on synthetic presets of its size, with the ratio synth / real.

    python bench/calibrate_synth.py [--seeds 0,1] [--folds 5] [--data data/ml-latest-small]

The suite keeps the check as tests/data/test_synth_calibration.py (3 folds, seed 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import docs_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.calibration import RATING_MODELS, TOPN_MODELS, protocol_scores
from latentlens.build.data.synth import SynthSettings, write_synthetic
from latentlens.build.settings import EvaluationSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/ml-latest-small"))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--preset", default="small")
    args = ap.parse_args()
    evaluation = EvaluationSettings(folds=args.folds)
    models = TOPN_MODELS + RATING_MODELS
    columns = {"real": protocol_scores(args.data, models, evaluation=evaluation)}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            out = Path(tmp) / f"synth-{seed}"
            write_synthetic(out, SynthSettings.preset(args.preset, seed=seed))
            columns[f"synth seed {seed}"] = protocol_scores(out, models, evaluation=evaluation)
    names = list(columns)
    print(f"{'model':<14}{'metric':<12}" + "".join(f"{n:>16}" for n in names))
    for model in models:
        metric = "ndcg_at_10" if model in TOPN_MODELS else "rmse"
        real = columns["real"][model][metric]
        values = [columns[n][model][metric] for n in names]
        cells = [f"{v:.4f}" + ("" if n == "real" else f" ({v / real:.2f})") for n, v in zip(names, values, strict=True)]
        print(f"{model:<14}{metric:<12}" + "".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
