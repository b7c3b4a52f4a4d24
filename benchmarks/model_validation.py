"""Model fidelity on real traffic, relative to the noise floor; fit and sampling costs of format 3.

    .venv/bin/python benchmarks/model_validation.py          # ratios (3 seeds × 3 splits), fit of ~1 M events
    .venv/bin/python benchmarks/model_validation.py --quick  # ~100 k events for the fit timing

1. The shared real log (``../shared/data/apache_logs``, read as ``tracereplay ingest`` reads it, no
   options) goes through the split-half test of ``tracereplay fit --validate`` with validation seeds 0, 3
   and 6 — three splits each, nine disjoint splits in all: fit on half the users (A), simulate 5× the
   other half's users, each metric model-vs-B over A-vs-B (the noise floor). Printed per seed and pooled
   over the nine splits; the plot (``--plot``, default ``docs/model-validation.png``) shows both
   distances per metric and seed with the ratio on top.
   Then the same test (validation seed 0, nine splits) on subsets of the log, so a figure tuned to one
   reading of it shows: bots excluded (``--exclude-bots``), the client address alone as the user
   (``--user-key client``), the first and the second half of its days. Then the generated 1995-style
   web log of ``tests/model/test_web_log.py`` (validation seeds 0 and 3), a log unlike the shared one.
2. Fit time per 1 M events: the readers-and-posters population of ``benchmarks/model.py`` simulated to
   ~1 M events, fitted on one pinned core; CPU time of the process (``time.process_time``), so the load
   of a shared machine does not count; wall time beside it.
3. ``sample_session`` (the replay runtime's per-call API): µs per call on both models.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "model"))
from populations import POSTER, READER, generate, web_log_1995  # noqa: E402

from tracereplay.ingest import read_dumps  # noqa: E402
from tracereplay.model import fit, simulate  # noqa: E402
from tracereplay.model.fidelity import DESCRIPTIONS  # noqa: E402
from tracereplay.model.validate import METRICS, validate  # noqa: E402

SEEDS = (0, 3, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, default=ROOT / ".." / "shared" / "data" / "apache_logs")
    parser.add_argument("--quick", action="store_true", help="~100 k events for the fit timing, not ~1 M")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "model-validation.png")
    args = parser.parse_args()

    events = read_dumps([args.log])
    print(f"{args.log.name}: {len(events):,} events, {events['user'].nunique():,} users, "
          f"{events['action'].nunique():,} actions")
    reports = {}
    for seed in SEEDS:
        start = time.perf_counter()
        reports[seed] = validate(events, splits=3, multiple=5, seed=seed)
        print(f"validation seed {seed} (splits {seed}–{seed + 2}): {time.perf_counter() - start:.1f} s wall")
    _print_ratios(reports)
    _plot(reports, args.plot)
    _subsets(args.log, events)
    _web_log()
    apache_model = fit(events)
    print(f"sample_session, model of {args.log.name}: {_sample_session_us(apache_model):.1f} µs per call "
          f"(mean {_mean_length(apache_model):.1f} actions)")
    _fit_timing(args.quick)


def _print_ratios(reports: dict) -> None:
    print("\nratio = mean distance model-vs-B / mean floor A-vs-B (3 splits per seed; 'all 9' pools them)")
    header = f"{'metric':26s}" + "".join(f"{'seed ' + str(s):>10s}" for s in reports) + f"{'all 9':>10s}"
    print(header)
    for name in METRICS:
        cells = [r[name].ratio for r in reports.values()]
        splits = [s for r in reports.values() for s in r.splits]
        pooled = np.mean([s.model[name] for s in splits]) / np.mean([s.floor[name] for s in splits])
        print(f"{name:26s}" + "".join(f"{c:>9.2f}×" for c in cells) + f"{pooled:>9.2f}×")
    worst = {s: r.worst_ratio for s, r in reports.items()}
    print("worst per seed: " + ", ".join(f"seed {s}: {w:.2f}×" for s, w in worst.items()))
    print("\n5–95 % range of each ratio (bootstrap over the seed's 3 splits):")
    for name in METRICS:
        print(f"{name:26s}" + "".join(f"  {_span(r[name].interval):>11s}" for r in reports.values()))
    print("\ndistances (mean over each seed's splits), model vs B / floor A vs B:")
    for name in METRICS:
        print(f"{name:26s}" + "".join(f"  {r[name].model:.4f}/{r[name].floor:.4f}" for r in reports.values()))


def _subsets(log: Path, events) -> None:
    middle = events["ts"].min() + (events["ts"].max() - events["ts"].min()) / 2
    subsets = {
        "bots excluded": read_dumps([log], exclude_bots=True),
        "client address as user": read_dumps([log], user_keys=("client",)),
        "first half of the days": events[events["ts"] < middle],
        "second half of the days": events[events["ts"] >= middle],
    }
    print("\nsubsets (validation seed 0, 9 splits): ratio [5–95 % range]")
    for name, table in subsets.items():
        report = validate(table, splits=9, multiple=5, seed=0)
        print(f"{name:24s} {len(table):>6,} events {table['user'].nunique():>6,} users  " + "  ".join(
            f"{m.name}={m.ratio or 0:.2f}× [{_span(m.interval)}]" for m in report.metrics))


def _web_log() -> None:
    """The generated 1995-style web log of tests/model/test_web_log.py: the kind of log the shared one
    is not (pages with their images within seconds, a thousand pages, reads up to 30 minutes)."""
    table = web_log_1995(users=2400, seed=1)
    print(f"\n1995-style generated web log: {len(table):,} events, {table['user'].nunique():,} users, "
          f"{table['action'].nunique():,} actions (3 splits per validation seed)")
    for seed in (0, 3):
        report = validate(table, splits=3, multiple=5, seed=seed)
        print(f"seed {seed}: " + "  ".join(f"{m.name}={m.ratio:.2f}× [{_span(m.interval)}]"
                                           for m in report.metrics if m.ratio is not None))


def _span(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"{interval[0]:.2f}–{interval[1]:.2f}×"


def _plot(reports: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, name in zip(axes.flat, METRICS, strict=True):
        x = np.arange(len(reports))
        floors = [r[name].floor for r in reports.values()]
        models = [r[name].model for r in reports.values()]
        ax.bar(x - 0.2, floors, 0.4, label="floor: A vs B", color="#9aa5b1")
        ax.bar(x + 0.2, models, 0.4, label="model (fitted on A) vs B", color="#2f6fb0")
        for i, r in enumerate(reports.values()):
            ratio = r[name].ratio
            ax.text(i, max(floors[i], models[i]) * 1.03, f"{ratio:.2f}×", ha="center", va="bottom",
                    fontsize=9, color="#b02f2f" if ratio > 1.5 else "black")
        ax.set_xticks(x, [f"seed {s}" for s in reports])
        ax.set_title(DESCRIPTIONS[name], fontsize=9)
        ax.set_ylim(0, max(max(floors), max(models)) * 1.25)
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Split-half validation on the shared Apache log: each metric's distance to held-out users, "
                 "beside the noise floor (3 splits per seed; ratio on top)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")


def _sample_session_us(model, calls: int = 20000) -> float:
    rng = np.random.default_rng(1)
    model.sample_session(0, rng)
    start = time.perf_counter()
    for _ in range(calls):
        model.sample_session(0, rng)
    return (time.perf_counter() - start) / calls * 1e6


def _mean_length(model, calls: int = 5000) -> float:
    rng = np.random.default_rng(2)
    return float(np.mean([len(model.sample_session(0, rng)[0]) for _ in range(calls)]))


def _fit_timing(quick: bool) -> None:
    seed_events, _ = generate([READER, POSTER], users=2000, seed=1)
    events = simulate(fit(seed_events), 4000 if quick else 40000, seed=1)
    cpu, wall = time.process_time(), time.perf_counter()
    model = fit(events)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_million = cpu / len(events) * 1e6
    print(f"\nfit of {len(events):,} events: {cpu:.2f} CPU s ({wall:.2f} s wall) = {per_million:.2f} CPU s "
          f"per 1 M events (goal ≤ 15 s)")
    print(f"sample_session, model of that population: {_sample_session_us(model):.1f} µs per call "
          f"(mean {_mean_length(model):.1f} actions)")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
