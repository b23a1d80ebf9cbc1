"""The curl commands of the product's seed documents, kept verbatim in tests/seed_payloads/documents."""

from __future__ import annotations

import shlex

from tests.support.paths import SEED_DIR

SEED_DOCUMENTS = SEED_DIR / "documents"


def curl_commands(text: str) -> list[str]:
    """Each `curl ...` command of a document, continuation lines and quoted body included."""
    commands: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].lstrip().startswith("curl "):
            index += 1
            continue
        command = lines[index]
        while _incomplete(command):
            index += 1
            command += "\n" + lines[index]
        commands.append(command.strip())
        index += 1
    return commands


def _incomplete(command: str) -> bool:
    if command.rstrip().endswith("\\"):
        return True
    try:
        shlex.split(command)
    except ValueError:  # an open quote: the JSON body goes on
        return True
    return False


def seed_commands() -> dict[str, list[str]]:
    found = {p.name: curl_commands(p.read_text()) for p in sorted(SEED_DOCUMENTS.glob("*.txt"))}
    return {name: commands for name, commands in found.items() if commands}
