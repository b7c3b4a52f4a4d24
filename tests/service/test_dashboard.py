"""The live dashboard in real headless Chromium (Debian's, driven by Playwright): the page loads from the
agent with nothing from elsewhere, its charts update, and its buttons act on the run."""

from __future__ import annotations

import shutil

import pytest
from playwright.async_api import async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def page():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context()
            yield await context.new_page()
        finally:
            await browser.close()


async def _points(page, chart: str) -> int:
    return int(await page.get_attribute(f"#{chart}", "data-points") or 0)


@pytest.mark.parametrize("token", [None, "dash-token-7"])
async def test_the_dashboard_charts_the_run_and_its_buttons_steer_it(start_agent, target, script, page, token,
                                                                     wait_for):
    client = await start_agent(token=token)
    body = {"id": "d", "model": str(script), "settings": {"target": target.url, "users": 2, "duration": 60}}
    await client.call("POST", "/loadagent/create", json=body)
    await client.call("POST", "/loadagent/d/run")
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(client.url) else elsewhere.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(client.url + "/dashboard" + (f"#token={token}" if token else ""))
    await page.wait_for_function("document.getElementById('run-id').textContent === 'd'", timeout=15000)

    # the charts fill up, point by point (one a second)
    async def grown():
        return await _points(page, "chart-rps") >= 2

    await wait_for(grown, timeout_s=15)
    before = await _points(page, "chart-latency")

    async def more():
        return await _points(page, "chart-latency") > before

    await wait_for(more, timeout_s=10)
    pixels = await page.evaluate(
        "(() => { const c = document.getElementById('chart-rps');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 60) n++;"
        " return n; })()"
    )
    assert pixels > 20  # the blue rps line is drawn

    # the buttons act on the run
    await page.fill("#amount", "3")
    await page.click("#add-users")

    def users_are(n: int):
        async def check():
            _, status = await client.call("GET", "/loadagent/d/status")
            return status["live"]["active_users"] == n

        return check

    await wait_for(users_are(5))
    await page.wait_for_function("document.getElementById('users-now').textContent === '5'", timeout=10000)
    await page.fill("#amount", "4")
    await page.click("#remove-users")

    await wait_for(users_are(1))
    await page.click("#stop")

    async def finished():
        _, status = await client.call("GET", "/loadagent/d/status")
        return status["state"] == "finished"

    await wait_for(finished, timeout_s=20)
    await page.wait_for_function("document.getElementById('state').textContent.includes('finished')",
                                 timeout=10000)
    assert not elsewhere and not errors
