"""The HTML page: self-contained, and its plots really render in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from .conftest import random_workers, write_run

# Appended to a copy of the page: reports what the browser made of every plot.
PROBE = """<script>
const plots = [...document.querySelectorAll("figure img")].map(i => ({
  id: i.closest("figure").id, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
  shown: i.getBoundingClientRect().width,
}));
document.body.setAttribute("data-probe", JSON.stringify(plots));
</script>"""
PLOTS = ("plot-throughput", "plot-latency-over-time", "plot-latency-distribution", "plot-errors")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; CI must render the HTML report in a real browser")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One page (written once for the module's tests): a run with users, a slower baseline, a threshold."""
    tmp_path = tmp_path_factory.mktemp("html")
    users = [[3, 4, 5, 5, 5, 4, 3, 3, 3, 2]]
    base = write_run(tmp_path / "base", random_workers(np.random.default_rng(1), n=1500), users=users)
    slow = write_run(tmp_path / "slow", random_workers(np.random.default_rng(2), n=1500, scale=1.5))
    out = tmp_path / "report.page"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracereplay",
            "report",
            str(base),
            "--html",
            str(out),
            "--baseline",
            str(slow),
            "--threshold",
            "p99_ms<1000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_page_is_self_contained(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    for plot in PLOTS:
        assert f'id="{plot}"' in html
    assert "Requests per action" in html and "GET /api/a" in html and "Thresholds" in html
    assert "Compared with baseline" in html


def test_plots_are_real_images_with_content(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(PLOTS)
    for data in images:
        pixels = image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.shape[0] > 150 and pixels.shape[1] > 400
        assert pixels[..., :3].std() > 0.05  # drawn, not blank


def test_page_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    browser = chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stdout[:2000]
    plots = json.loads(found.group(1).replace("&quot;", '"'))
    assert sorted(p["id"] for p in plots) == sorted(PLOTS)
    for plot in plots:
        assert plot["complete"] and plot["width"] > 400 and plot["height"] > 150 and plot["shown"] > 100, plot
