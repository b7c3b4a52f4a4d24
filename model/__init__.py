"""The behaviour model stage: fit a model of users from an event table, save/load it, simulate, compare.

    model = fit(events)                         # BehaviourModel
    model.save("model.json"); model = load_model("model.json")
    synthetic = simulate(model, users=1000, seed=1)
    report = compare(events, synthetic)         # FidelityReport
    rating = validate(events)                   # ValidationReport: split-half, relative to the noise floor

See docs/model.md for what is fitted and the file format.
"""

from __future__ import annotations

from tracereplay.model.behaviour import ActionStats, ArrivalProfile, BehaviourModel, UserClass
from tracereplay.model.distributions import Duration, Family
from tracereplay.model.edit import drop_actions, edit, rename_actions, scale_arrivals, set_class_shares
from tracereplay.model.fidelity import FidelityReport, compare
from tracereplay.model.fit import FitSettings, fit
from tracereplay.model.io import FORMAT_VERSION, load_model
from tracereplay.model.simulate import simulate
from tracereplay.model.validate import ValidationReport, validate

__all__ = [
    "FORMAT_VERSION",
    "ActionStats",
    "ArrivalProfile",
    "BehaviourModel",
    "Duration",
    "Family",
    "FidelityReport",
    "FitSettings",
    "UserClass",
    "ValidationReport",
    "compare",
    "drop_actions",
    "edit",
    "fit",
    "load_model",
    "rename_actions",
    "scale_arrivals",
    "set_class_shares",
    "simulate",
    "validate",
]
