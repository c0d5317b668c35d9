"""The public API: what ``dicomtls``, ``dicomtls.ul`` and ``dicomtls.dimse`` export, and its shape."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import dicomtls
import dicomtls.errors

PACKAGES = ["dicomtls", "dicomtls.ul", "dicomtls.dimse"]

# Submodules whose whole __all__ their package re-exports.
REEXPORTED = {
    "dicomtls.ul": ["dicomtls.ul.association", "dicomtls.ul.items", "dicomtls.ul.negotiation",
                    "dicomtls.ul.user_info"],
    "dicomtls.dimse": ["dicomtls.dimse.commands", "dicomtls.dimse.fragments",
                       "dicomtls.dimse.messages", "dicomtls.dimse.status"],
}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_every_name_exists(name):
    module = importlib.import_module(name)
    names = module.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what {name} does not define: {missing}"


@pytest.mark.parametrize("package", sorted(REEXPORTED))
def test_package_reexports_its_modules(package):
    pkg = importlib.import_module(package)
    for sub in REEXPORTED[package]:
        module = importlib.import_module(sub)
        for n in module.__all__:
            assert n in pkg.__all__, f"{package} does not re-export {sub}.{n}"
            # The same object: no two submodules export different things under one name.
            assert getattr(pkg, n) is getattr(module, n), f"{package}.{n} is not {sub}.{n}"


def test_items_does_not_reexport_user_information():
    """user_info builds on items' codecs; items does not import it back (no import cycle)."""
    items = importlib.import_module("dicomtls.ul.items")
    assert not hasattr(items, "UserInformation")


def test_top_level_names():
    from dicomtls import ul, dimse
    from dicomtls.io import association_runner, served, server
    assert dicomtls.ul is ul and dicomtls.dimse is dimse
    for n in ("associate", "ClientAssociation", "serve_association", "serve_echo_once"):
        assert getattr(dicomtls, n) is getattr(association_runner, n)
    for n in ("AssociationServer", "VerificationServer"):
        assert getattr(dicomtls, n) is getattr(server, n)
    assert dicomtls.ServedAssociation is served.ServedAssociation
    # The Upper Layer's sans-IO names are under ``ul``: its NEED_DATA is not the TLS layer's.
    assert ul.Association and ul.Established and ul.MessageReceived and ul.AAssociateRQ
    assert ul.NEED_DATA is not dicomtls.NEED_DATA
    assert "Association" not in dicomtls.__all__
    assert dimse.C_ECHO_RQ and dimse.status_name(0x0000) and dimse.CommandSet


def _error_classes(module):
    return {n: obj for n, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, BaseException)}


def test_every_error_class_of_dicomtls_errors_is_exported_at_the_top():
    defined = {n for n, cls in _error_classes(dicomtls.errors).items()
               if cls.__module__ == "dicomtls.errors"}
    assert defined - set(dicomtls.__all__) == set()
    for n in ("PDUError", "AssociationError", "AssociationRejected", "AssociationAborted",
              "DIMSEError", "DIMSEStatusError"):
        assert getattr(dicomtls, n) is getattr(dicomtls.errors, n)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_error_derives_from_dicomtls_error(name):
    module = importlib.import_module(name)
    errors = {n: getattr(module, n) for n in module.__all__
              if inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), Exception)
              and not issubclass(getattr(module, n), Warning)}  # LegacyCryptoWarning is a warning
    if name == "dicomtls":
        assert len(errors) >= 20
    stray = [n for n, cls in errors.items() if not issubclass(cls, dicomtls.DicomTLSError)]
    assert not stray


def _fresh_import(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            "print(','.join(m for m in ('pydicom', 'pynetdicom') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout.strip()
    return [m for m in out.split(",") if m]


@pytest.mark.parametrize("statement", [
    "import dicomtls",
    "from dicomtls import *",
    "import dicomtls.ul, dicomtls.dimse",
    "import dicomtls.ul.user_info",
])
def test_import_does_not_pull_in_pydicom(statement):
    """The networking layers pass data sets through as bytes: no pydicom at import time."""
    assert _fresh_import(statement) == []
