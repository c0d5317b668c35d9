"""An index of a storage directory for Query/Retrieve (PS3.4 Annex C), and C-FIND matching.

``StorageIndex(directory)`` reads every Part 10 file's attributes (pydicom ``dcmread`` with
``stop_before_pixels``) and keeps them keyed by path; ``refresh()`` (called by every query)
re-reads files whose size or modification time changed and drops files that are gone, so what
the Storage SCP writes is found by the next C-FIND.

``find(identifier, model)`` yields one response identifier per matching entity at the
identifier's Query/Retrieve Level; ``retrieve(identifier, model)`` the paths of the instances a
C-MOVE or C-GET identifier selects. Matching (PS3.4 C.2.2.2): single value (PN case-insensitive),
wildcards ``*`` and ``?``, a list of UIDs, date/time ranges (``A-B``, ``-B``, ``A-``), universal
matching (an empty value: a return key) and the computed study attributes (Modalities in Study,
Number of Study Related Series/Instances, ...). Keys above the level are matched too; keys below
it are refused (0xA900), as a hierarchical SCP does.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Iterator, Optional

from ..errors import DicomTLSError

log = logging.getLogger(__name__)

PATIENT, STUDY, SERIES, IMAGE = "PATIENT", "STUDY", "SERIES", "IMAGE"
LEVELS = (PATIENT, STUDY, SERIES, IMAGE)

#: The unique key of each level (PS3.4 C.6.1.1 / C.6.2.1).
UNIQUE_KEY = {PATIENT: "PatientID", STUDY: "StudyInstanceUID", SERIES: "SeriesInstanceUID",
              IMAGE: "SOPInstanceUID"}

#: Information models: "patient" (Patient Root) and "study" (Study Root, no PATIENT level).
MODELS = {"patient": LEVELS, "study": LEVELS[1:]}

#: Patient-level attributes: in the Study Root model they are matched at the STUDY level.
PATIENT_KEYS = frozenset({"PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                          "PatientBirthTime", "PatientSex", "OtherPatientIDs", "OtherPatientNames",
                          "EthnicGroup", "PatientComments", "NumberOfPatientRelatedStudies",
                          "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances"})
STUDY_KEYS = frozenset({"StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                        "StudyID", "StudyDescription", "ReferringPhysicianName",
                        "ModalitiesInStudy", "SOPClassesInStudy", "PatientAge", "PatientSize",
                        "PatientWeight", "NameOfPhysiciansReadingStudy", "AdmittingDiagnosesDescription",
                        "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                        "OtherStudyNumbers", "Occupation", "AdditionalPatientHistory"})
SERIES_KEYS = frozenset({"SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                         "SeriesDate", "SeriesTime", "BodyPartExamined", "ProtocolName",
                         "PerformedProcedureStepStartDate", "NumberOfSeriesRelatedInstances"})
#: Attributes computed over an entity's instances rather than read from a file.
COMPUTED = frozenset({"ModalitiesInStudy", "SOPClassesInStudy", "NumberOfPatientRelatedStudies",
                      "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
                      "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                      "NumberOfSeriesRelatedInstances"})
_NOT_KEYS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
                       "TimezoneOffsetFromUTC", "QueryRetrieveView", "InstanceAvailability"})


class QueryError(DicomTLSError):
    """An identifier we cannot process; ``status`` is the C-FIND/C-MOVE/C-GET failure status."""

    def __init__(self, message: str, status: int = 0xA900):
        super().__init__(message)
        self.status = status


def level_of(keyword: str) -> str:
    """The level an attribute belongs to (anything unknown is an IMAGE-level attribute)."""
    if keyword in PATIENT_KEYS:
        return PATIENT
    if keyword in STUDY_KEYS:
        return STUDY
    if keyword in SERIES_KEYS:
        return SERIES
    return IMAGE


def _level_index(level: str, model: str) -> int:
    lv = LEVELS.index(level)
    return max(lv, 1) if model == "study" else lv


# ---- value matching ---------------------------------------------------------------------
def _text(value) -> list[str]:
    """A pydicom value as a list of strings (multi-valued attributes give several)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v).strip() for v in value]
    return [str(value).strip()]


_WILDCARD = re.compile(r"[*?]")


def _wildcard(pattern: str, flags: int) -> re.Pattern:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body + r"\Z", flags | re.S)


def _in_range(value: str, query: str, vr: str) -> bool:
    low, _, high = query.partition("-")
    low, high = low.strip(), high.strip()
    value = value.strip()
    if not value:
        return False
    if vr == "TM":  # compare as HHMMSS.ffffff, missing components count as their minimum
        value, low = value.replace(":", ""), low.replace(":", "")
        high = high.replace(":", "")
        if high:
            high = high + "999999.999999"[len(high):] if len(high) < 13 else high
    elif vr == "DT" and high:
        high = high + "99999999999999.999999"[len(high):]
    if vr == "DA" and high:
        value = value[:8]
    return (not low or value >= low) and (not high or value <= high)


def match_value(query: str, values: list[str], vr: str) -> bool:
    """Does one of ``values`` (an attribute's values in a file) match ``query`` (a non-empty
    key value)? PS3.4 C.2.2.2.2-C.2.2.2.5."""
    query = query.strip()
    if vr == "UI":
        wanted = {q.strip().rstrip("\0") for q in query.split("\\")}
        return any(v.rstrip("\0") in wanted for v in values)
    if vr in ("DA", "TM", "DT"):
        for q in query.split("\\"):
            if "-" in q and not (vr == "DT" and q.startswith(("+", ))):
                if any(_in_range(v, q, vr) for v in values):
                    return True
            elif any(v.strip() == q.strip() for v in values):
                return True
        return False
    flags = re.I if vr == "PN" else 0
    for q in query.split("\\"):
        if _WILDCARD.search(q):
            rx = _wildcard(q, flags)
            if any(rx.match(v) for v in values) or (q.strip("*") == "" and not values):
                return True
        elif vr == "PN":
            if any(v.lower() == q.lower() for v in values):
                return True
        elif q in values:
            return True
    return False


# ---- the index --------------------------------------------------------------------------
class Record:
    """One stored instance: its path, attributes (no pixel data) and hierarchy keys."""

    __slots__ = ("path", "dataset", "stamp", "sop_class_uid", "transfer_syntax_uid")

    def __init__(self, path: str, dataset, stamp):
        self.path = path
        self.dataset = dataset
        self.stamp = stamp
        meta = getattr(dataset, "file_meta", None)
        self.sop_class_uid = str(getattr(dataset, "SOPClassUID", "") or
                                 getattr(meta, "MediaStorageSOPClassUID", ""))
        self.transfer_syntax_uid = str(getattr(meta, "TransferSyntaxUID", "") or "")

    def key(self, level: str) -> str:
        return str(self.dataset.get(UNIQUE_KEY[level], "") or "").strip()


class StorageIndex:
    """The Q/R view of a directory of Part 10 files (recursive; hidden and ``.partial`` files
    are skipped). Thread-safe: one lock around refresh."""

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.records: dict[str, Record] = {}
        #: Files that are not DICOM (the MPPS service's JSON, say), by path: their stamp, so
        #: they are read again only once they change.
        self._unreadable: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        import pydicom
        with self._lock:
            seen = set()
            for root, dirs, files in os.walk(self.directory):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith(".partial"):
                        continue
                    path = os.path.join(root, name)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    stamp = (st.st_size, st.st_mtime_ns)
                    seen.add(path)
                    old = self.records.get(path)
                    if (old is not None and old.stamp == stamp) or \
                            self._unreadable.get(path) == stamp:
                        continue
                    try:
                        ds = pydicom.dcmread(path, stop_before_pixels=True)
                    except Exception as exc:  # not DICOM, truncated, ...: not indexed
                        log.debug("not indexed: %s (%s)", path, exc)
                        self.records.pop(path, None)
                        self._unreadable[path] = stamp
                        continue
                    self._unreadable.pop(path, None)
                    self.records[path] = Record(path, ds, stamp)
            for path in set(self.records) - seen:
                del self.records[path]
            for path in set(self._unreadable) - seen:
                del self._unreadable[path]

    def instances(self) -> dict[str, str]:
        """{SOP Instance UID: SOP Class UID} of every indexed instance, as the directory is
        now (Storage Commitment asks whether an instance is held)."""
        self.refresh()
        return {rec.key(IMAGE): rec.sop_class_uid for rec in list(self.records.values())}

    def __len__(self) -> int:
        return len(self.records)

    # -- matching --
    def _check(self, identifier, model: str) -> tuple[str, dict]:
        if model not in MODELS:
            raise QueryError(f"unknown information model {model!r}")
        level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
        if level not in MODELS[model]:
            raise QueryError(f"Query/Retrieve Level {level or '(missing)'} is not valid in the "
                             f"{model} root model")
        lv = _level_index(level, model)
        keys = {}
        for elem in identifier:
            kw = elem.keyword
            if not kw or kw in _NOT_KEYS or elem.tag.group in (0x0000, 0x0002):
                continue
            if elem.VR == "SQ":
                keys[kw] = (elem, "")  # sequence matching: a return key only
                continue
            if _level_index(level_of(kw), model) > lv and elem.value not in (None, "", b""):
                raise QueryError(f"{kw} is below the Query/Retrieve Level {level}")
            keys[kw] = (elem, "\\".join(_text(elem.value)) if elem.value not in (None, b"")
                        else "")
        return level, keys

    def _groups(self, level: str, keys: dict) -> dict[str, list[Record]]:
        """Records matching every non-computed key, grouped by the level's unique key."""
        self.refresh()
        groups: dict[str, list[Record]] = {}
        for rec in list(self.records.values()):
            ok = True
            for kw, (elem, query) in keys.items():
                if not query or kw in COMPUTED:
                    continue
                if not match_value(query, _text(rec.dataset.get(kw)), elem.VR):
                    ok = False
                    break
            if ok and rec.key(level):
                groups.setdefault(rec.key(level), []).append(rec)
        return groups

    def _computed(self, kw: str, level: str, group: list[Record]) -> Optional[list[str]]:
        """A computed attribute's values for the entity ``group`` stands for: counted over
        every stored instance of that entity, not only the ones the other keys matched."""
        key = group[0].key(level)
        members = [r for r in self.records.values() if r.key(level) == key]
        if kw == "ModalitiesInStudy":
            return sorted({str(r.dataset.get("Modality", "")) for r in members} - {""})
        if kw == "SOPClassesInStudy":
            return sorted({r.sop_class_uid for r in members} - {""})
        if kw.endswith("RelatedStudies"):
            return [str(len({r.key(STUDY) for r in members}))]
        if kw.endswith("RelatedSeries"):
            return [str(len({r.key(SERIES) for r in members}))]
        if kw.endswith("RelatedInstances"):
            return [str(len(members))]
        return None

    def find(self, identifier, model: str = "study") -> Iterator:
        """Response identifiers (pydicom Datasets), one per matching entity, sorted by key."""
        from pydicom.dataset import Dataset
        level, keys = self._check(identifier, model)
        groups = self._groups(level, keys)
        lv = LEVELS.index(level)
        for key in sorted(groups):
            group = groups[key]
            computed = {kw: self._computed(kw, level, group) for kw in keys if kw in COMPUTED}
            if any(query and not match_value(query, computed[kw] or [], keys[kw][0].VR)
                   for kw, (_, query) in keys.items() if kw in COMPUTED):
                continue
            first = group[0].dataset
            out = Dataset()
            charset = first.get("SpecificCharacterSet")
            if charset:
                out.SpecificCharacterSet = charset
            out.QueryRetrieveLevel = level
            wanted = dict(keys)
            for up in LEVELS[:lv + 1]:  # the unique keys of this level and the ones above
                if up == PATIENT and model == "study" and UNIQUE_KEY[up] not in keys:
                    continue
                wanted.setdefault(UNIQUE_KEY[up], None)
            for kw in wanted:
                if kw in computed:
                    vals = computed[kw] or []
                    setattr(out, kw, vals if len(vals) != 1 else vals[0])
                elif kw in first:
                    out[first.data_element(kw).tag] = first.data_element(kw)
                else:
                    elem = wanted[kw][0] if wanted[kw] else None
                    if elem is not None:
                        out.add_new(elem.tag, elem.VR, None)
            yield out

    def retrieve(self, identifier, model: str = "study") -> list[Record]:
        """The instances a C-MOVE/C-GET identifier selects (its unique keys, at its level)."""
        level, keys = self._check(identifier, model)
        unique = UNIQUE_KEY[level]
        if not keys.get(unique, (None, ""))[1]:
            raise QueryError(f"a retrieve at level {level} needs {unique}")
        groups = self._groups(level, keys)
        return [rec for key in sorted(groups) for rec in
                sorted(groups[key], key=lambda r: (r.key(STUDY), r.key(SERIES), r.key(IMAGE)))]


__all__ = ["COMPUTED", "IMAGE", "LEVELS", "MODELS", "PATIENT", "QueryError", "Record", "SERIES",
           "STUDY", "StorageIndex", "UNIQUE_KEY", "level_of", "match_value"]
