"""The product's names for our typed errors: its error codes and their message prefixes.

The product's contract names an error by a code (`invalid_input`,
`not_found`, ...) and starts its message with the product's sentinel text
(`invalid input: `). A refused event of a bulk call has no status of its own,
and the product's REST API and its gRPC API (grpc/product/) answer it with
the same code and message. Both edges read that rule here, beside errors.py,
so that neither transport imports the other; the HTTP status of each error
stays REST's own (http/errors.py).
"""

from __future__ import annotations

from openspanner.errors import NotFound, OpenSpannerError

# The product's message prefix of each code ("not found: meter 'm' ...").
_PREFIX = {"not_found": "not found: ", "conflict": "conflict: "}


def message_prefix(code: str) -> str:
    """Every invalid_<field> code is the product's invalid-input sentinel too; invalid_json is not."""
    if code.startswith("invalid_") and code != "invalid_json":
        return "invalid input: "
    return _PREFIX.get(code, "")


def rejection_code(error: OpenSpannerError) -> tuple[str, str]:
    """The product's code and message of one refused event of a bulk call: not_found for an
    unknown meter, invalid_timestamp, else invalid_input (a bulk answer item has no status)."""
    if isinstance(error, NotFound):
        code = "not_found"
    elif error.field == "timestamp":
        code = "invalid_timestamp"
    else:
        code = "invalid_input"
    return code, message_prefix(code) + str(error)
