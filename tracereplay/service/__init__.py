"""Service mode: the agent (``tracereplay serve``), its OpenAPI document, the live dashboard, and the
capacity search. See docs/service.md."""
