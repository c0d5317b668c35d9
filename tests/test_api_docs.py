"""The public API is documented: every public class and function has a docstring of its own, the
package ships ``py.typed``, and the API reference builds from the docstrings (issue 9, item 7)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

import dicomtls

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS))
import build_api  # noqa: E402  (docs/ is not a package; the build script is the one CI runs)


def _own_docstring(obj) -> str:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if inspect.isclass(obj) and doc and doc.startswith(obj.__name__ + "("):
        return ""  # dataclass()'s generated signature is not documentation
    return (doc or "").strip()


@pytest.mark.parametrize("module", build_api.MODULES)
def test_every_public_name_has_a_docstring(module):
    mod = importlib.import_module(module)
    assert _own_docstring(mod), f"{module} has no module docstring"
    missing = []
    for name in getattr(mod, "__all__", ()):
        obj = getattr(mod, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not _own_docstring(obj):
            missing.append(name)
    assert not missing, f"{module}: no docstring for {', '.join(missing)}"


def test_package_is_typed():
    assert (Path(dicomtls.__file__).parent / "py.typed").is_file()


def test_api_reference_builds(tmp_path):
    result = build_api.build(tmp_path)
    assert result.returncode == 0, result.stderr
    for module in build_api.MODULES:
        page = tmp_path / (module.replace(".", "/") + ".html")
        assert page.is_file(), f"no page for {module}"
    top = (tmp_path / "dicomtls.html").read_text()
    for name in ("TLSConfig", "check_config", "associate", "LDicomNet"):
        assert name in top
