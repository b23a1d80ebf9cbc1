"""Where the tests find the repository's files, whichever ring's folder a test lives in."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SEED_DIR = TESTS / "seed_payloads"
NODE_DIR = TESTS / "node"


def seed_json(name: str) -> str:
    return (SEED_DIR / name).read_text()
