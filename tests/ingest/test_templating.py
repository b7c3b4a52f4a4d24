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


# Real paths from ../shared/data/apache_logs (semicomplete.com, May 2015) and from the real log:
# page names made of words, numbers and dashes stay; dates, numeric ids and hashed file names are templated.
@pytest.mark.parametrize(("path", "expected"), [
    ("/presentations/logstash-monitorama-2013/images/kibana-search.png",
     "/presentations/logstash-monitorama-2013/images/kibana-search.png"),
    ("/presentations/logstash-monitorama-2013/plugin/highlight/highlight.js",
     "/presentations/logstash-monitorama-2013/plugin/highlight/highlight.js"),
    ("/blog/geekery/CEE-logging-for-profit.html", "/blog/geekery/CEE-logging-for-profit.html"),
    ("/blog/geekery/Kyocera-KPC650-EVDO-in-FreeBSD.html",
     "/blog/geekery/Kyocera-KPC650-EVDO-in-FreeBSD.html"),
    ("/apple-touch-icon-120x120-precomposed.png", "/apple-touch-icon-120x120-precomposed.png"),
    ("/images/jordan-80.png", "/images/jordan-80.png"),
    ("/blog/geekery/102.html", "/blog/geekery/{id}.html"),
    ("/files/blogposts/20081105/", "/files/blogposts/{id}/"),
    ("/files/blogposts/20101112/logstash-logger-with-awesome_print.png",
     "/files/blogposts/{id}/logstash-logger-with-awesome_print.png"),
    ("/blog/2007/Jan/27", "/blog/{id}/Jan/{id}"),
    ("/images/web/2009/banner.png", "/images/web/{id}/banner.png"),
    ("/presentations/logstash-scale11x/css/fonts/PRmiXeptR36kaC0GEAetxp_TkvowlIOtbR7ePgFOpF4.ttf",
     "/presentations/logstash-scale11x/css/fonts/{token}.ttf"),
    ("/presentations/logstash-scale11x/css/fonts/Roboto-Bold.ttf",
     "/presentations/logstash-scale11x/css/fonts/Roboto-Bold.ttf"),
    ("/shuttle/missions/sts-69/mission-sts-69.html", "/shuttle/missions/sts-69/mission-sts-69.html"),
    ("/images/KSC-logosmall.gif", "/images/KSC-logosmall.gif"),
    ("/shuttle/missions/sts-71/images/KSC-95EC-0423.jpg",
     "/shuttle/missions/sts-71/images/KSC-95EC-0423.jpg"),
    ("/session/makerecognisable/530e5ff1-7b5e-4441-b4c2-31f9c84f5aba",
     "/session/makerecognisable/{uuid}"),
    ("/_wp-assets/shell/scripts.ea681fbb93b85a3ccde5.js", "/_wp-assets/shell/scripts.{hex}.js"),
    ("/static/js/main.3f2a9c1b.chunk.js", "/static/js/main.{hex}.chunk.js"),
    ("/downloads/tracereplay-1.2.3.tar.gz", "/downloads/tracereplay-1.2.3.tar.gz"),
])
def test_real_paths(path, expected):
    assert template_path(path) == expected
