"""Load benchmark: synthesise (or reuse) an ML-25M-sized release and time `load_movielens` on it.

    python bench/bench_load.py [DIR] [--preset ml-25m] [--seed 0] [--runs 3] [--dat-rows 10000000]

Each synthesis and each load runs in a fresh child process that reports its own wall time
and peak RSS (getrusage RUSAGE_SELF), so runs do not share caches inside Python and the
peak is per run. With --dat-rows N, the first N ratings are also written as a `::` file
(ML-10M style) to compare the two ways of parsing a two-character separator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import docs_results

CHILD_PRELUDE = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
"""

SYNTH = """
from latentlens.build.data.synth import SynthSettings, write_synthetic
t = time.perf_counter()
write_synthetic(Path({out!r}), SynthSettings.preset({preset!r}, seed={seed}), force=True)
seconds = time.perf_counter() - t
"""

LOAD = """
from latentlens.build.data.loader import load_movielens
from latentlens.build.data.summary import summarize
t = time.perf_counter()
data = load_movielens({path!r})
seconds = time.perf_counter() - t
t = time.perf_counter()
summarize(data)
summary_seconds = time.perf_counter() - t
extra = {{"ratings": data.ratings.height, "summary_seconds": summary_seconds}}
"""

DAT_COMPARE = """
import polars as pl
from latentlens.build.data.formats import dat_layout
from latentlens.build.data.formats.reading import read_table
path = Path({path!r})
t = time.perf_counter()
replaced = read_table(path, dat_layout.RATINGS, dat_layout.transcode(path, text=False))
seconds = time.perf_counter() - t
t = time.perf_counter()
lines = pl.read_csv(path, has_header=False, separator="\\x1f", quote_char=None, schema={{"line": pl.Utf8}})
split = lines.select(pl.col("line").str.split_exact("::", 3).struct.rename_fields(
    ["user_id", "movie_id", "rating", "timestamp"])).unnest("line").cast(
    {{"user_id": pl.Int32, "movie_id": pl.Int32, "rating": pl.Float32, "timestamp": pl.Int64}})
split_seconds = time.perf_counter() - t
assert split.equals(replaced)
extra = {{"split_seconds": split_seconds, "rows": replaced.height}}
"""

CHILD_EPILOGUE = """
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, **globals().get("extra", {})}))
"""

REPO = str(Path(__file__).resolve().parents[1])


def run_child(body: str, **values: object) -> dict:
    code = CHILD_PRELUDE.format(repo=REPO) + body.format(**values) + CHILD_EPILOGUE
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_dat(csv_ratings: Path, rows: int, out: Path) -> None:
    import polars as pl

    frame = pl.scan_csv(csv_ratings).head(rows).collect()
    text = frame.select(pl.concat_str(pl.all().cast(pl.Utf8), separator="::"))
    text.write_csv(out, include_header=False, quote_style="never")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", type=Path, default=Path("/tmp/latentlens-synth-25m"))
    p.add_argument("--preset", default="ml-25m")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dat-rows", type=int, default=0, help="also compare `::` parsers on this many rows")
    args = p.parse_args()

    rows: list[tuple[str, str]] = []
    if not (args.data / "ratings.csv").is_file():
        synth = run_child(SYNTH, out=str(args.data), preset=args.preset, seed=args.seed)
        rows += [(f"synth {args.preset} wall", f"{synth['seconds']:.1f} s"),
                 (f"synth {args.preset} peak RSS", f"{synth['peak_mb']:,.0f} MB")]
    else:
        rows.append(("synth", f"reused {args.data}"))
    for f in sorted(args.data.iterdir()):
        rows.append((f"  {f.name}", f"{f.stat().st_size / 2**20:,.1f} MiB"))

    loads = [run_child(LOAD, path=str(args.data)) for _ in range(args.runs)]
    times = [r["seconds"] for r in loads]
    rows += [
        ("ratings loaded", f"{loads[0]['ratings']:,}"),
        (f"load wall, median of {args.runs}", f"{statistics.median(times):.2f} s"),
        ("load wall, min..max", f"{min(times):.2f}..{max(times):.2f} s"),
        ("load+summary peak RSS", f"{max(r['peak_mb'] for r in loads):,.0f} MB"),
        ("summarize wall, median", f"{statistics.median(r['summary_seconds'] for r in loads):.2f} s"),
    ]

    if args.dat_rows:
        with tempfile.TemporaryDirectory() as tmp:
            dat = Path(tmp) / "ratings.dat"
            write_dat(args.data / "ratings.csv", args.dat_rows, dat)
            cmp = run_child(DAT_COMPARE, path=str(dat))
            rows += [
                (f"'::' {cmp['rows']:,} rows, replace+typed read", f"{cmp['seconds']:.2f} s"),
                (f"'::' {cmp['rows']:,} rows, line read+split_exact", f"{cmp['split_seconds']:.2f} s"),
            ]

    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
