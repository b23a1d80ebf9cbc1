"""Where the dashboard's files are: package data of this package, next to this module."""

from __future__ import annotations

from pathlib import Path

# Package data installed with the wheel (pyproject.toml, package-data), so the
# installed package serves its own copy; no path outside the package is used.
STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
PIN_FILE = Path(__file__).parent / "vendor.json"
