"""A/B experiments, measured: does `latentlens experiment report` find the better arm, and does it keep quiet when
the arms are the same? Issue #30's targets, over 40 seeds each (a seed is the experiment's salt: a new split of
the same people).

    python bench/bench_experiments.py                        # 40 seeds of each case, the embedded data
    python bench/bench_experiments.py --seeds 10 --models popularity,ease
    python bench/bench_experiments.py --docs experiments     # also write docs/results/experiments.md

Both cases run `latentlens experiment simulate`'s code (build/experiments/simulate.py): each user's last 20% of
ratings by time held out, the rest built once with a challenger, then per seed `latentlens serve` on 127.0.0.1
with the experiment salted by the seed, every person through the API (lists of 10, a click on each shown movie
they rated >= 4 later) into a new SQLite event store, and the report.

1. champion against popularity: the report must name the better arm (by the truth: every person shown each
   arm's lists) in at least 36 of 40 seeds;
2. two identical arms (the challenger is the champion's own model, an A/A test): it may name a winner in at
   most 4 of 40.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import docs_results

from latentlens.build.experiments.report import format_report
from latentlens.build.experiments.settings import SimulateSettings
from latentlens.build.experiments.simulate import Simulation, format_simulation, simulate

REPO = Path(__file__).resolve().parents[1]
SEEDS = 40
FOUND_AT_LEAST = 0.9   # 36 of 40
QUIET_AT_MOST = 0.1    # 4 of 40


def run_case(title: str, settings: SimulateSettings) -> Simulation:
    print(f"== {title}")
    started = time.perf_counter()
    simulation = simulate(settings)
    print(format_simulation(simulation))
    print(f"({time.perf_counter() - started:,.0f} s: the split, one build, {settings.seeds} served experiments)\n")
    return simulation


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=SEEDS, help="experiments per case")
    p.add_argument("--data", type=Path, default=SimulateSettings.data_dir, help="MovieLens directory (CSV layout)")
    p.add_argument("--models", default=None, help="the builds evaluate only these models (default: every one)")
    args = p.parse_args()
    models = tuple(args.models.split(",")) if args.models else None
    base = SimulateSettings(data_dir=args.data, seeds=args.seeds, models=models)
    ab = run_case("champion against popularity", SimulateSettings(**{**vars(base), "challenger": "popularity"}))
    print(f"The report of seed {ab.outcomes[0].seed}, as `latentlens experiment report` prints it:\n")
    print(format_report(ab.outcomes[0].report) + "\n")
    champion = ab.built.champion
    aa = run_case(f"two identical arms: {champion} against itself",
                  SimulateSettings(**{**vars(base), "champion": champion, "challenger": champion}))
    found_ok = ab.truth.better is not None and ab.right >= FOUND_AT_LEAST * args.seeds
    named = sum(o.report.verdict.winner is not None for o in aa.outcomes)
    quiet_ok = named <= QUIET_AT_MOST * args.seeds
    print(f"champion {champion} against popularity: the better arm ({ab.truth.better}) named in {ab.right} of "
          f"{args.seeds} seeds, the worse in {ab.wrong} (target >= {FOUND_AT_LEAST * args.seeds:g}: "
          f"{'met' if found_ok else 'NOT met'})")
    print(f"{champion} against itself: a winner named in {named} of {args.seeds} seeds "
          f"(target <= {QUIET_AT_MOST * args.seeds:g}: {'met' if quiet_ok else 'NOT met'})")
    mismatches = sum(o.variant_mismatches for sim in (ab, aa) for o in sim.outcomes)
    print(f"answers whose variant was not the person's arm: {mismatches}")
    return 0 if found_ok and quiet_ok and not mismatches else 1


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
