"""The dashboard's files, without a browser: the vendored chart library against its pin,
the rules the pages keep (text only, no inline code). The wheel shipping them is a system test
(tests/system/test_dashboard_wheel.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openspanner.dashboard.files import PIN_FILE, STATIC_DIR, VENDOR_DIR
from openspanner.dashboard.vendor import load_pin, sha256_of

OWN_SCRIPTS = sorted(p for p in STATIC_DIR.rglob("*.js") if VENDOR_DIR not in p.parents)


def test_vendored_files_are_exactly_the_pinned_ones() -> None:
    """`make dashboard-vendor` writes them; a hand edit or a half-done upgrade fails here."""
    pin = load_pin()
    assert pin["version"] and pin["integrity"].startswith("sha512-")
    for target, entry in pin["files"].items():
        assert sha256_of(VENDOR_DIR / target) == entry["sha256"], f"{target} differs from {PIN_FILE.name}"
    vendored = {str(p.relative_to(VENDOR_DIR)) for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert vendored == set(pin["files"]), "files in static/vendor that the pin does not name"
    # The library's own banner names the same version as the pin.
    banner = (VENDOR_DIR / "uplot" / "uPlot.esm.js").read_text()[:400]
    assert f"(v{pin['version']})" in banner
    assert "MIT License" in (VENDOR_DIR / "uplot" / "LICENSE").read_text()


@pytest.mark.parametrize("script", OWN_SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_pages_insert_data_as_text_and_run_no_strings_as_code(script: Path) -> None:
    text = script.read_text()
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                      ".style.", "setAttribute(\"style\"", "localStorage"):
        assert forbidden not in text, f"{script.name} uses {forbidden}"
    # Every module it imports exists (there is no build step to catch a typo).
    for target in re.findall(r'^\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"', text, flags=re.M | re.S):
        assert (script.parent / target).resolve().is_file(), f"{script.name} imports missing {target}"


def test_every_page_module_is_routed() -> None:
    app = (STATIC_DIR / "app.js").read_text()
    for page in sorted((STATIC_DIR / "pages").glob("*.js")):
        assert f'from "./pages/{page.name}"' in app, f"{page.name} is not imported by app.js"


def test_the_html_has_no_inline_script_or_style() -> None:
    for page in STATIC_DIR.rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son\w+=", html), page.name
