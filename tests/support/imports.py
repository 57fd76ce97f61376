"""What a piece of code imports, run in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pydicom", "numpy")


def heavy_imports_of(code: str) -> list[str]:
    """The pydicom/numpy modules loaded once ``code`` has run in a new interpreter (it may assert)."""
    probe = (code + "\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)
