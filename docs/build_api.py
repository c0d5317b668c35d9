"""Build the API reference (HTML, from the docstrings) with pdoc:

    python3 docs/build_api.py [OUT_DIR]      (default docs/api, which git ignores)

The test suite builds it too (tests/test_api_docs.py), so a docstring or import that breaks the
reference fails CI instead of rotting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The packages a user imports; each gets a page (the private ``_binding`` and the C module
#: do not). ``dicomtls`` has ``__all__``, so pdoc would otherwise stop at the top level.
MODULES = ("dicomtls", "dicomtls.tls", "dicomtls.ul", "dicomtls.dimse", "dicomtls.io",
           "dicomtls.storage", "dicomtls.qr", "dicomtls.nservices", "dicomtls.scan",
           "dicomtls.ldicomnet", "dicomtls.crypto")


def build(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pdoc", "--docformat", "restructuredtext",
                           "-o", str(out), *MODULES], capture_output=True, text=True,
                          timeout=300)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "api"
    result = build(target)
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        print(f"API reference written to {target}/index.html")
    sys.exit(result.returncode)
