"""Generated populations and their fitted models, built once per test session (fitting takes ~1 s)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from populations import DIURNAL, POSTER, READER, SINGLE, generate, rare_spec

from tracereplay.model import fit


@pytest.fixture(scope="session")
def two_classes():
    """Readers (70 %) and posters (30 %): different chains, think scales and sessions per user."""
    return generate([READER, POSTER], users=2000, seed=11)


@pytest.fixture(scope="session")
def single_class():
    return generate([SINGLE], users=2000, seed=12)


@pytest.fixture(scope="session")
def rare_actions():
    return generate([rare_spec()], users=2000, seed=13)


@pytest.fixture(scope="session")
def two_class_model(two_classes):
    return fit(two_classes[0])


@pytest.fixture(scope="session")
def single_class_model(single_class):
    return fit(single_class[0])


@pytest.fixture(scope="session")
def switching():
    """Users who mostly read (75 %) or mostly post (75 %) but switch kinds between sessions."""
    return generate([READER, POSTER], users=2000, seed=14, switching=[[0.75, 0.25], [0.25, 0.75]])


@pytest.fixture(scope="session")
def rare_model(rare_actions):
    return fit(rare_actions[0])


@pytest.fixture(scope="session")
def diurnal():
    """A strong day/night cycle (~40:1) and users who come back 1–4 days later at a fresh hour of the
    day (20 % a couple of hours later): the case where gaps alone would smear later sessions over the
    clock. Spans ~4 weeks, so arrivals are fitted by hour of week."""
    spec = dataclasses.replace(SINGLE, return_days_mean=2.5, same_day_share=0.2, sessions_mean=4.0)
    return generate([spec], users=2000, seed=15, hourly=DIURNAL)


@pytest.fixture(scope="session")
def diurnal_model(diurnal):
    return fit(diurnal[0])
