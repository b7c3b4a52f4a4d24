"""Did the run generate what it meant to? The run's traffic against the source events, via ``model.compare``.

The comparison itself (action mix, session shapes, think times, arrivals) belongs to the model stage:
``tracereplay.model.compare(reference_df, candidate_df) -> FidelityReport``. This module only turns a run
into an event table and calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracereplay.errors import ConfigError
from tracereplay.ingest.events import EVENT_COLUMNS, conform, read_events
from tracereplay.report.load import Run


def run_events(run: Run) -> Any:
    """The run's requests as an event table (the contract's columns; ``ts`` is the actual start)."""
    requests = run.requests
    return conform(requests.loc[:, [c for c in EVENT_COLUMNS if c in requests.columns]], source="run")


def fidelity(run: Run, events_path: str | Path) -> Any:
    """``model.compare(source events, run events)``: a ``FidelityReport`` (``.to_dict()``, ``.render()``).

    ``report --against`` exits 3 when its verdict fails, as ``compare`` does: a short run cannot reproduce,
    say, the source's sessions per user, so turn such a metric off (``compare --threshold NAME=off``).
    """
    try:
        from tracereplay.model import compare
    except ImportError:
        raise ConfigError("--against needs tracereplay.model.compare, which this install lacks") from None
    return compare(read_events(events_path), run_events(run))
