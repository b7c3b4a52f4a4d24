"""tracereplay: replay production-like traffic from trace and analytics dumps.

The public face of the four stages; every arrow of the pipeline is a file and a function here::

    events = tracereplay.read_events("events.parquet")       # ingest output (tracereplay ingest)
    model = tracereplay.fit(events)                          # behaviour model (tracereplay fit)
    model.save("model.json"); model = tracereplay.load_model("model.json")
    synthetic = tracereplay.simulate(model, users=100, seed=1)
    fidelity = tracereplay.compare(events, synthetic)
    rating = tracereplay.validate(events)                    # split-half test against the noise floor
    result = tracereplay.run(model, target="http://127.0.0.1:8065", users=50, duration=30, out="runs/1")
    run = tracereplay.load_run("runs/1")                     # requests DataFrame + summaries

Names are resolved lazily so that ``tracereplay --help`` does not import pandas, numpy or aiohttp.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "read_events": ("tracereplay.ingest.events", "read_events"),
    "write_events": ("tracereplay.ingest.events", "write_events"),
    "ingest": ("tracereplay.ingest", "ingest"),
    "fit": ("tracereplay.model", "fit"),
    "load_model": ("tracereplay.model", "load_model"),
    "simulate": ("tracereplay.model", "simulate"),
    "compare": ("tracereplay.model", "compare"),
    "validate": ("tracereplay.model", "validate"),
    "run": ("tracereplay.replay", "run"),
    "load_run": ("tracereplay.report", "load_run"),
    "summarize": ("tracereplay.report", "summarize"),
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tracereplay' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(module), attribute)
