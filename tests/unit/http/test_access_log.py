"""The access log's route names: a route's template, the dashboard's one name for its files, else `unmatched`."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from openspanner.dashboard.serving import DASHBOARD
from openspanner.http.access_log import route_of


def handler() -> None:
    """A route's endpoint; never called."""


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/dashboard/{file}"),
        ("/dashboard", "/dashboard/{file}"),
        ("/dashboard/pages/meters.js", "/dashboard/{file}"),
        ("/dashboardx", "unmatched"),
        ("/v1/nope", "unmatched"),
    ],
)
def test_a_path_no_route_matched_is_named_by_the_pages_or_unmatched(path: str, route: str) -> None:
    assert route_of({"path": path}, DASHBOARD.route_of) == route


def test_without_pages_every_unmatched_path_is_unmatched() -> None:
    assert route_of({"path": "/dashboard/app.js"}) == "unmatched"


def test_a_matched_route_is_named_by_its_template() -> None:
    scope = {"path": "/v1/meters/m1", "route": APIRoute("/v1/meters/{id}", handler)}
    assert route_of(scope, DASHBOARD.route_of) == "/v1/meters/{id}"
