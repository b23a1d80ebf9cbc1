"""The blocking and the asyncio client offer the same calls."""

from __future__ import annotations

import inspect
from typing import Any

from openspanner.client import AsyncClient, Client


def test_client_and_async_client_have_the_same_methods_and_arguments() -> None:
    def public(cls: type) -> dict[str, list[tuple[str, Any, Any]]]:
        return {
            name: [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    sync, aio = public(Client), public(AsyncClient)
    assert sync == aio
    assert {"create_meter", "record_usages", "query_usage", "list_events", "revoke_api_key"} <= set(sync)
    assert {"create_plan", "assign_plan", "get_subject_progress", "check", "consume", "list_decisions"} <= set(sync)
    listings = ("list_events", "list_decisions", "list_alert_events")
    for name in sync:
        if name != "close" and name not in listings:
            assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
    for name in listings:
        assert inspect.isasyncgenfunction(getattr(AsyncClient, name)), name
