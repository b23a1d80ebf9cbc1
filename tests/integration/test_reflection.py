"""Server reflection shows the API as written in proto/, comments included (`grpcurl describe`)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.harness import ServerProcess
from tests.integration.test_seeds import grpcurl_binary
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


DECLARATIONS = commented_declarations()


def test_the_protos_have_commented_methods_services_and_messages() -> None:
    names = [name for name, _ in DECLARATIONS]
    assert "openspanner.v1.MeterService.CreateMeter" in names
    assert "open_spanner.v1.UsageService" in names
    assert "openspanner.v1.Meter" in names


@pytest.mark.parametrize(("name", "comment"), DECLARATIONS, ids=[name for name, _ in DECLARATIONS])
def test_grpcurl_describe_shows_the_comment(shared_server: ServerProcess, name: str, comment: list[str]) -> None:
    described = subprocess.run(
        [grpcurl_binary(), "-plaintext", shared_server.address, "describe", name],
        capture_output=True, text=True, timeout=60,
    )
    assert described.returncode == 0, described.stderr
    shown = [line.strip().removeprefix("//").strip() for line in described.stdout.splitlines()]
    for line in comment:
        assert line in shown, f"{name}: comment line {line!r} missing from:\n{described.stdout}"
