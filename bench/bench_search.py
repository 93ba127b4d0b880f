"""Title search latency on a catalogue's real titles: the handler's index, query by query type.

Builds the in-memory index the handler builds (same search keys as the export writes) from a
MovieLens directory's movies, then times `queries.search` on typed prefixes, whole titles,
single words, typos (one edit in a word of 4+ letters) and misses.

    python bench/bench_search.py /tmp/latentlens-synth-25m [--queries 2000] [--baseline OTHER_CHECKOUT]

--baseline times another checkout's handler/title_index.py on the same queries, interleaved
query by query (which goes first alternates), so a before/after comparison shares the machine's noise.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import docs_results

from latentlens.build.data.loader import LoadOptions, load_movielens
from latentlens.build.export.tables import movies_table
from latentlens.handler.routes.movies import search_terms
from latentlens.handler.title_index import TitleIndex


def typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word) - 1)
    kind = rng.choice(["delete", "swap", "replace", "insert"])
    if kind == "delete":
        return word[:i] + word[i + 1:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return word[:i] + letter + word[i + (kind == "replace"):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", help="a checkout whose handler/title_index.py to time alongside")
    args = parser.parse_args()
    data = load_movielens(args.data, LoadOptions())
    movies = movies_table(data)
    rows = list(zip(movies["movie_id"].to_list(), movies["n_ratings"].to_list(), movies["search_key"].to_list(),
                    strict=True))
    t = time.perf_counter()
    index = TitleIndex(rows)
    print(f"{len(rows):,} titles; index built in {time.perf_counter() - t:.2f} s")
    rng = random.Random(args.seed)
    displays = movies["display_title"].to_list()
    kinds: dict[str, list[str]] = {"prefix": [], "title": [], "word": [], "typo": [], "miss": []}
    while min(len(v) for v in kinds.values()) < args.queries:
        display = rng.choice(displays).casefold()
        words = [w for w in display.split() if w.isalpha()]
        kinds["prefix"].append(display[:rng.randint(1, min(12, len(display)))])
        kinds["title"].append(display)
        if words:
            kinds["word"].append(rng.choice(words))
            long = [w for w in words if len(w) >= 5]
            if long:
                kinds["typo"].append(typo(rng, rng.choice(long)))
        kinds["miss"].append("zq" + "".join(rng.choice("xzqj") for _ in range(6)))
    t = time.perf_counter()
    index.search(*search_terms("zqzqzqzq godfathr"), 10)  # builds the typo index (once per process)
    print(f"typo index built on first use in {time.perf_counter() - t:.2f} s")
    indexes = {"this": index}
    if args.baseline:
        import importlib.util
        spec = importlib.util.spec_from_file_location("baseline_title_index", f"{args.baseline}/handler/title_index.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        indexes["baseline"] = module.TitleIndex(rows)
    print("wall = perf_counter around each call; cpu = this thread's CPU time (time.thread_time), which leaves out\n"
          "the time the scheduler gave other processes, so on a loaded machine it is the search's own cost")
    everything = {name: {"wall": [], "cpu": []} for name in indexes}
    for kind, queries in kinds.items():
        times = {name: {"wall": [], "cpu": []} for name in indexes}
        found = {name: 0 for name in indexes}
        for i, q in enumerate(queries[:args.queries]):
            terms = search_terms(q)
            if not terms[0]:
                continue
            # alternate which index goes first: the second one finds the query's titles in the CPU caches
            for name, idx in (list(indexes.items()) if i % 2 else list(indexes.items())[::-1]):
                c, t = time.thread_time(), time.perf_counter()
                hits = idx.search(*terms, 10)
                times[name]["wall"].append((time.perf_counter() - t) * 1000)
                times[name]["cpu"].append((time.thread_time() - c) * 1000)
                found[name] += bool(hits)
        for name, clocks in times.items():
            for clock, ts in clocks.items():
                everything[name][clock] += ts
            print(f"{kind:<7} {name:<9} {len(clocks['wall']):>5} queries  {_figures(clocks)}  "
                  f"found {found[name] / len(clocks['wall']):.0%}")
    for name, clocks in everything.items():
        print(f"{'all':<7} {name:<9} {len(clocks['wall']):>5} queries  {_figures(clocks)}")


def _figures(clocks: dict[str, list[float]]) -> str:
    """p50 / p99 / max of each clock, in ms."""
    out = []
    for clock, ts in clocks.items():
        ts = sorted(ts)
        p99 = ts[int(0.99 * (len(ts) - 1))]
        out.append(f"{clock} p50 {statistics.median(ts):.3f} p99 {p99:.3f} max {ts[-1]:.2f} ms")
    return "  ".join(out)


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
