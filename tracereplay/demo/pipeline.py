"""The whole pipeline on the demo: sample traces → events → model → a run against the demo target → report.

Built only on the stages' public APIs (docs/architecture.md), so it doubles as the worked example of
using tracereplay from Python::

    from tracereplay.demo.pipeline import DemoSettings, run_demo
    result = run_demo(DemoSettings(out=Path("tracereplay-demo"), duration=20, users=60))
    print(result.run_dir)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracereplay.demo import sample_dump_path
from tracereplay.demo.process import TargetProcess
from tracereplay.errors import ConfigError

ACTION_PACK = "tracereplay.demo.actions"


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """What ``tracereplay demo`` does; every field has the CLI's default."""

    out: Path = Path("tracereplay-demo")
    duration: float = 20.0  # seconds of load
    users: int = 60  # concurrent simulated users (closed workload)
    seed: int = 1
    latency_scale: float = 1.0  # the target's response times (0 = as fast as it can)
    dump: Path | None = None  # None: the bundled sample traces

    def validate(self) -> DemoSettings:
        problems = []
        if self.duration <= 0:
            problems.append("duration must be positive")
        if self.users < 1:
            problems.append("users must be at least 1")
        if self.seed < 0:
            problems.append("seed must be ≥ 0")
        if self.latency_scale < 0:
            problems.append("latency scale must be ≥ 0")
        if problems:
            raise ConfigError(problems)
        return self


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    """Where everything went, and what each stage said."""

    dump: Path
    events_path: Path
    model_path: Path
    run_dir: Path
    target: str
    ingest_summary: Any  # tracereplay.ingest.IngestSummary
    model: Any  # tracereplay.model.BehaviourModel
    run: Any  # tracereplay.report.Run
    summary: Any  # tracereplay.report.Summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "dump": str(self.dump),
            "events": str(self.events_path),
            "model": str(self.model_path),
            "run_dir": str(self.run_dir),
            "target": self.target,
            "ingest": self.ingest_summary.to_dict(),
            "report": self.summary.to_dict(),
        }


Notify = Callable[[str, dict[str, Any]], None]


def _quiet(stage: str, facts: dict[str, Any]) -> None:
    """Default notifier: say nothing."""


def run_demo(settings: DemoSettings, *, notify: Notify = _quiet, progress: Any = None) -> DemoResult:
    """Ingest the sample traces, fit a model, run it against a fresh demo target, summarise the run.

    ``notify(stage, facts)`` is called after each stage ("ingest", "fit", "target", "run", "report");
    ``progress`` is passed on to the replay stage's live progress hook when given.
    """
    from tracereplay.ingest import ingest
    from tracereplay.ingest.events import read_events
    from tracereplay.model import fit
    from tracereplay.report import load_run, summarize

    settings.validate()
    out = settings.out
    dump = settings.dump or sample_dump_path()
    events_path, model_path = out / "events.parquet", out / "model.json"
    run_dir = out / f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}"

    ingest_summary = ingest([dump], events_path)
    notify("ingest", {"summary": ingest_summary, "path": events_path})

    model = fit(read_events(events_path))
    model.save(model_path)
    notify("fit", {"model": model, "path": model_path})

    with TargetProcess(latency_scale=settings.latency_scale, seed=settings.seed) as target:
        notify("target", {"url": target.url})
        _replay(model, target.url, run_dir, settings, progress)
    notify("run", {"path": run_dir})

    run = load_run(run_dir)
    summary = summarize(run)
    notify("report", {"summary": summary})
    return DemoResult(
        dump=dump, events_path=events_path, model_path=model_path, run_dir=run_dir, target=target.url,
        ingest_summary=ingest_summary, model=model, run=run, summary=summary,
    )


def _replay(model: Any, url: str, run_dir: Path, settings: DemoSettings, progress: Any) -> Any:
    from tracereplay.replay import run

    options: dict[str, Any] = {
        "out": str(run_dir), "users": settings.users, "duration": settings.duration,
        "actions": ACTION_PACK, "seed": settings.seed,
        # users start over the first seconds, as people do, rather than all in the same millisecond
        "ramp_up": min(3.0, settings.duration / 5),
        # the target already has one of the cores; one load worker leaves the other for the run
        "workers": 1,
    }
    if progress is not None:
        options["progress"] = progress
    return run(model, target=url, **options)
