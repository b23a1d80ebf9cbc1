"""`make dashboard-vendor`: fetch the pinned chart library from the npm registry into static/vendor/.

The pin is vendor.json, the one place that names the package, its version,
the registry's integrity hash of the tarball and the sha256 of each file
taken from it; tests/unit/dashboard/test_files.py checks the committed files
against it, so a hand edit or a half-done upgrade fails the tests. Only this
command needs npm (`npm pack`); running and testing the server never do.

    python -m openspanner.dashboard.vendor                  # re-fetch the pinned version, check, write
    python -m openspanner.dashboard.vendor --version 1.6.33 # move the pin, then commit vendor.json and the files
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from openspanner.dashboard.files import PIN_FILE, VENDOR_DIR


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_pin(path: Path = PIN_FILE) -> dict[str, Any]:
    pin: dict[str, Any] = json.loads(path.read_text())
    return pin


def npm_integrity(data: bytes) -> str:
    """The form npm records for a tarball: `sha512-` and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(package: str, version: str, into: Path) -> bytes:
    """The package's tarball as the registry serves it, through npm's own client."""
    subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--pack-destination", str(into), "--silent"],
        check=True, stdout=subprocess.DEVNULL,
    )
    (tarball,) = into.glob("*.tgz")
    return tarball.read_bytes()


def vendor(pin: dict[str, Any], new_version: str | None) -> dict[str, Any]:
    """Write the pinned files into VENDOR_DIR; answer the pin, moved when `new_version` is given."""
    version = new_version or pin["version"]
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch(pin["npm_package"], version, Path(tmp))
        integrity = npm_integrity(data)
        if new_version is None and integrity != pin["integrity"]:
            raise SystemExit(
                f"{pin['npm_package']}@{version}: the registry's tarball is {integrity}, the pin says "
                f"{pin['integrity']}; refusing to vendor it"
            )
        tarball = Path(tmp) / "package.tgz"
        tarball.write_bytes(data)
        files: dict[str, Any] = {}
        with tarfile.open(tarball) as archive:
            for target, entry in pin["files"].items():
                member = archive.extractfile(entry["from"])
                if member is None:
                    raise SystemExit(f"{entry['from']} is not a file of {pin['npm_package']}@{version}")
                destination = VENDOR_DIR / target
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(member.read())
                digest = sha256_of(destination)
                if new_version is None and digest != entry["sha256"]:
                    raise SystemExit(f"{target}: sha256 {digest} differs from the pin {entry['sha256']}")
                files[target] = {"from": entry["from"], "sha256": digest}
    return {**pin, "version": version, "integrity": integrity, "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="move the pin to this version (default: re-fetch the pinned one)")
    args = parser.parse_args(argv)
    pin = vendor(load_pin(), args.version)
    PIN_FILE.write_text(json.dumps(pin, indent=2) + "\n")
    print(f"vendored {pin['npm_package']}@{pin['version']} into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
