"""MemStore: what a user knows, bounded and reproducible."""

from __future__ import annotations

import numpy as np

from tracereplay.replay import MemStore, MutableUserStore, UserStore
from tracereplay.replay.store import VALUES_PER_NAME


def test_memstore_is_both_protocols():
    store = MemStore()
    assert isinstance(store, UserStore) and isinstance(store, MutableUserStore)


def test_values_are_bounded_newest_last_and_links_follow_them():
    store = MemStore()
    for i in range(VALUES_PER_NAME + 5):
        store.remember("post_id", f"p{i}", {"channel_id": "c"})
    kept = store.values("post_id")
    assert len(kept) == VALUES_PER_NAME and kept[-1] == store.latest("post_id") == f"p{VALUES_PER_NAME + 4}"
    assert store.related("post_id", "p0") == {} and store.related("post_id", kept[0]) == {"channel_id": "c"}
    store.remember("post_id", kept[0])
    assert store.latest("post_id") == kept[0]  # seen again: newest
    store.forget("post_id")
    assert store.values("post_id") == () and store.pick("post_id", np.random.default_rng(0)) is None


def test_pick_is_reproducible_with_the_same_generator():
    store = MemStore()
    for i in range(10):
        store.remember("channel_id", f"c{i}")
    a = [store.pick("channel_id", np.random.default_rng(5)) for _ in range(3)]
    b = [store.pick("channel_id", np.random.default_rng(5)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    assert len({store.pick("channel_id", rng) for _ in range(200)}) == 10


def test_token_cookies_facts():
    store = MemStore()
    store.set_token("t")
    store.set_cookie("sid", "abc")
    store.set_fact("username", "ann")
    assert store.token == "t" and store.cookies == {"sid": "abc"} and store.fact("username") == "ann"
    assert store.fact("missing", 3) == 3


def test_pick_chooses_uniformly_among_the_kept_values():
    store = MemStore()
    for value in "abcd":
        store.remember("channel_id", value)
    rng = np.random.default_rng(7)
    counts = {value: 0 for value in "abcd"}
    for _ in range(4000):
        counts[store.pick("channel_id", rng)] += 1
    assert all(900 < n < 1100 for n in counts.values()), counts
