"""How many rows a read answers, and which names it groups by: one rule for both APIs.

gRPC and REST hand these parameters to the same functions, so a page size,
a limit or a group_by list reads alike on every route. The product's REST
contract differs from our gRPC API in two documented places, and those are
the functions' only switches:

- a REST `limit` above MAX_LIMIT is clamped (the product's server does so
  silently) where our gRPC page_size is refused, so a gRPC client never
  mistakes a cut page for a whole one (`clamped_limit` then `checked_limit`);
- REST drops a repeated group_by name (the product's client may send one
  both repeated and comma-separated) where our gRPC API refuses it by name
  (`group_by_names(..., drop_repeats=...)`). Both split on commas: no
  dimension name may contain one, so a comma never changes a valid name.
"""

from __future__ import annotations

from collections.abc import Iterable

from openspanner.errors import InvalidArgument

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def checked_limit(limit: int | None, *, field: str = "limit") -> int:
    """The number of rows to answer: DEFAULT_LIMIT when not given (None or 0), else 1..MAX_LIMIT."""
    if limit is None or limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"must be between 1 and {MAX_LIMIT} (0 or none means {DEFAULT_LIMIT})", field=field)
    return limit


def clamped_limit(limit: int, *, zero_means_default: bool, field: str = "limit") -> int:
    """A REST `limit` as the product reads it: more than MAX_LIMIT is clamped to it; below zero
    is refused (invalid_limit), and so is zero in a query string, where leaving the parameter
    out is how to ask for the default (a JSON body's 0 is an omitted number, so the default)."""
    if limit < 0:
        message = "must not be negative" if zero_means_default else "must be greater than zero"
        raise InvalidArgument(message, field=field)
    if limit == 0 and not zero_means_default:
        raise InvalidArgument("must be greater than zero", field=field)
    return checked_limit(min(limit, MAX_LIMIT), field=field)


def group_by_names(given: Iterable[str], *, drop_repeats: bool) -> list[str]:
    """The group_by names of a request, given repeated, comma-separated, or both.

    With `drop_repeats` (REST) blank names and repeats are dropped, as the
    product does; without (gRPC) every name is kept as given, so the planner
    refuses a repeat or an empty name by name.
    """
    names: list[str] = []
    for value in given:
        for name in value.split(","):
            if not drop_repeats:
                names.append(name)
            elif name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names
