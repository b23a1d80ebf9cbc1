"""Plans and entitlements: routes of the product's API this server does not serve yet.

Answered 501 in the contract's error body, so the product's client reads a
clear error instead of failing on a bare 404 page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from openspanner.errors import NotImplementedYet
from openspanner.http.problems import ErrorResponse

router = APIRouter(tags=["plans"])


async def not_served(request: Request, rest: str) -> None:
    raise NotImplementedYet(
        f"{request.method} {request.url.path}: plans and entitlements are not served by this server yet"
    )


for family in ("plans", "entitlements"):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        router.api_route(
            f"/v1/{family}/{{rest:path}}",
            methods=[method],
            status_code=501,
            summary=f"Not served yet ({family})",
            description="Plans and entitlements are not part of this server yet; every such call answers 501.",
            operation_id=f"not_served_{family}_{method.lower()}",
            responses={501: {"model": ErrorResponse}},
        )(not_served)
