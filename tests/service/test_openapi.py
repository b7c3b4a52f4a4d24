"""The served OpenAPI document is valid OpenAPI 3.1, and describes exactly the routes the agent has."""

from __future__ import annotations

import jsonschema
from openapi_spec_validator import validate

from tracereplay.service.agent import Agent, create_app


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue  # aiohttp adds HEAD beside every GET
        info = route.resource.get_info()
        found.add((route.method.lower(), info.get("path") or info.get("formatter")))
    return found


async def test_the_served_document_is_valid_and_matches_the_routes(agent_client, tmp_path):
    _, document = await agent_client.call("GET", "/openapi.json")
    validate(document)  # raises on an invalid document
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    assert described == _routes(create_app(Agent(tmp_path / "other")))
    assert document["info"]["version"] == "test"


async def test_answers_match_their_schemas(agent_client, target, script, wait_for):
    client = agent_client
    _, document = await client.call("GET", "/openapi.json")
    schemas = document["components"]["schemas"]

    def check(value, name):
        schema = {**schemas[name], "components": {"schemas": schemas}}
        resolved = jsonschema.validators.validator_for(schema)(schema)
        resolved.validate(value)

    body = {"id": "s", "model": str(script), "settings": {"target": target.url, "users": 1, "duration": "5s"}}
    check(body, "Create")
    _, status = await client.call("POST", "/loadagent/create", json=body)
    check(status, "Status")
    await client.call("POST", "/loadagent/s/run")

    async def points():
        _, series = await client.call("GET", "/loadagent/s/series")
        return series

    for point in await wait_for(points):
        check(point, "Point")
    _, status = await client.call("GET", "/loadagent/s/status")
    check(status, "Status")
    for entry in (await client.call("GET", "/loadagent/runs"))[1]:
        check(entry, "RunEntry")
    _, error = await client.call("GET", "/loadagent/zzz/status", expect=404)
    check(error, "Error")
    await client.call("POST", "/loadagent/s/stop")
