"""Golden files: a rendering compared with the file that holds what it must be.

`CNM_UPDATE_GOLDEN=1 pytest ...` rewrites the files from the renderings, after a
deliberate change; review their diff.
"""

from __future__ import annotations

import os
from pathlib import Path


def golden(path: Path, rendered: str) -> str:
    """The golden text at `path` (first written from `rendered` when updating)."""
    if os.environ.get("CNM_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    return path.read_text()
