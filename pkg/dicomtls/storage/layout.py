"""Where a received object is published under the Storage SCP's output directory
(``dicomtls serve --layout``), like storescp's sort options:

* ``flat`` (the default): ``<out>/<SOPInstanceUID>.dcm``;
* ``patient``: ``<out>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``;
* ``study``: ``<out>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``.

The values are the data set's top-level (0010,0020), (0020,000D), (0020,000E), which the
structure validator records as they stream past (``structure.StructureValidator(record=...)``):
nothing is parsed twice and the directory is chosen when the object is complete. Its
``.partial`` file lives in ``<out>`` until then and is renamed into the directory (one file
system, so the rename is atomic).

A value becomes a path component only through ``safe_component``: characters other than
[0-9A-Za-z.-_] become '_' (no '/', no NUL, nothing a shell or another OS minds), leading dots
go (no "..", no hidden directories), at most ``COMPONENT_LIMIT`` characters, and an absent or
empty value is ``UNKNOWN``. Distinct values may therefore share a directory ("A/B" and "A_B"):
the file names, SOP Instance UIDs, still tell the objects apart.

Durability: ``incoming.make_directories`` fsyncs the parent of every directory it creates (when
fsync is on), so the new entry is on disk before an object is renamed into it;
``directories_to_sync`` lists what a release must fsync for the renames into a directory to be
durable: that directory and each one above it up to the output directory (another association
may have created them and not synced their entries yet).
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Optional

PATIENT_ID = 0x00100020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E

LAYOUTS = ("flat", "patient", "study")
#: The top-level elements each layout sorts by, outermost directory first.
SORT_TAGS = {
    "flat": (),
    "patient": (PATIENT_ID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID),
    "study": (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID),
}
COMPONENT_LIMIT = 64        # a UID's maximum length; Patient ID (LO) is at most 64 too
UNKNOWN = "UNKNOWN"

_UNSAFE = re.compile(r"[^0-9A-Za-z._\-]")


def check_layout(layout: str) -> str:
    """``layout`` if it is one of ``LAYOUTS``, else ValueError."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: choose from {', '.join(LAYOUTS)}")
    return layout


def safe_component(value: Optional[str]) -> str:
    """``value`` as one harmless path component (see the module docstring)."""
    text = _UNSAFE.sub("_", (value or "").strip("\0 "))[:COMPONENT_LIMIT].lstrip(".")
    return text or UNKNOWN


def layout_components(layout: str, values: Mapping[int, bytes]) -> tuple[str, ...]:
    """The directories (outermost first) ``layout`` puts an object in whose top-level
    element values are ``values`` ({tag: raw bytes}); () for ``flat``."""
    return tuple(safe_component(values[tag].decode("latin-1") if tag in values else None)
                 for tag in SORT_TAGS[layout])


def directories_to_sync(root: str, directory: str) -> list[str]:
    """``directory`` and each directory above it up to ``root`` (inclusive), deepest first."""
    root = os.path.normpath(root)
    out = [os.path.normpath(directory)]
    while out[-1] != root:
        parent = os.path.dirname(out[-1])
        if parent == out[-1]:          # not under ``root``: sync what we were given
            break
        out.append(parent)
    return out


__all__ = ["COMPONENT_LIMIT", "LAYOUTS", "PATIENT_ID", "SERIES_INSTANCE_UID", "SORT_TAGS",
           "STUDY_INSTANCE_UID", "UNKNOWN", "check_layout", "directories_to_sync",
           "layout_components", "safe_component"]
