"""openspanner/v1 (stubs, descriptors, copies of the protos) is exactly what `make proto` generates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.support.paths import ROOT


def load_generator() -> object:
    spec = importlib.util.spec_from_file_location("protogen", ROOT / "proto" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_generated(tmp_path: Path) -> None:
    generator = load_generator()
    generated = generator.generate(tmp_path)  # type: ignore[attr-defined]
    suffixes = generator.GENERATED_SUFFIXES  # type: ignore[attr-defined]
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "openspanner" / "v1").glob("*") if p.suffix in suffixes)
    assert generated == committed, "stub files differ: run `make proto` and commit"
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (ROOT / relative).read_bytes(), (
            f"{relative} differs from what `make proto` generates: run it and commit"
        )
