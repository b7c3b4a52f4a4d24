"""Path templating and path redaction."""

from __future__ import annotations

import numpy as np
import pytest

from tracereplay.ingest.redact import redact_path
from tracereplay.ingest.templating import template_path, template_paths


@pytest.mark.parametrize(("path", "expected"), [
    ("/users/123", "/users/{id}"),
    ("/users/456/posts/7?page=2", "/users/{id}/posts/{id}"),
    ("/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x", "/o/{uuid}/x"),
    ("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{hex}"),
    ("/reset/eyJhbGciOiJIUzI1NiJ9abc123", "/reset/{token}"),
    ("/u/jane@example.com", "/u/{email}"),
    ("/api/v4/users/me", "/api/v4/users/me"),
    ("/api/v2/channels/general", "/api/v2/channels/general"),
    ("/deadbeef", "/deadbeef"),  # hex letters without a digit read as a word
    ("/0badcafe", "/{hex}"),
    ("/facade", "/facade"),  # hex letters alone are a word, not an id
    ("/", "/"),
])
def test_template_path(path, expected):
    assert template_path(path) == expected


def test_template_paths_keeps_missing_and_works_per_distinct_value():
    out = template_paths(np.array(["/a/1", None, "/a/2", "/a/1"], dtype=object))
    assert out.tolist() == ["/a/{id}", None, "/a/{id}", "/a/{id}"]


def test_redact_path_keeps_ids_and_removes_secrets():
    assert redact_path("/users/42/reset/eyJhbGciOiJIUzI1NiJ9abc123?x=1#f") == "/users/42/reset/{token}"
    assert redact_path("/u/jane@example.com/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301") == \
        "/u/{email}/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert redact_path("/users/42", template_ids=True) == "/users/{id}"
