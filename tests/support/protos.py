"""The commented declarations of proto/, read from the .proto text itself."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

PROTO_DIR = ROOT / "proto"
# A top-level message, enum or service, or an rpc, with the // lines right above it.
DECLARATION = re.compile(r"((?:^ *//.*\n)+)^ *(message|enum|service|rpc) +(\w+)", re.MULTILINE)


def commented_declarations() -> list[tuple[str, list[str]]]:
    """(full name, comment lines) of every commented declaration, read from the .proto text itself."""
    found = []
    for path in sorted(PROTO_DIR.rglob("*.proto")):
        text = path.read_text()
        package = re.search(r"^package ([\w.]+);", text, re.MULTILINE)
        assert package, path
        service = None
        for match in re.finditer(r"^service (\w+)|" + DECLARATION.pattern, text, re.MULTILINE):
            if match.group(1):
                service = match.group(1)
            comment, kind, name = match.group(2, 3, 4)
            if comment is None:
                continue
            if kind == "service":
                service = name
            if kind in ("message", "enum") and match.group(0).split("\n")[-1].startswith(" "):
                continue  # nested: described with its parent
            full = f"{package.group(1)}.{service}.{name}" if kind == "rpc" else f"{package.group(1)}.{name}"
            lines = [line.strip().removeprefix("//").strip() for line in comment.strip().splitlines()]
            found.append((full, [line for line in lines if line]))
    return found
