"""Self-signed certificates for the TLS tests (openssl; the fixtures skip with a reason where it is missing)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(key: Path, cert: Path, *extra: str) -> None:
    """A throwaway EC key and a self-signed certificate for ``localhost``, valid two days; ``extra`` openssl options."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            *extra,
        ],
        check=True,
        capture_output=True,
    )
