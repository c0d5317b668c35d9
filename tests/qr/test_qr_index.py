"""StorageIndex: C-FIND matching at every level of both models, refresh, retrieve selection."""

from __future__ import annotations

import os
import shutil

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dicomtls.qr._dataset import decode_identifier, encode_identifier, identifier_from_keys
from dicomtls.qr.index import QueryError, StorageIndex, match_value

FILES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")


@pytest.fixture
def store(tmp_path):
    for name in FILES:
        shutil.copy(get_testdata_file(name), tmp_path / name)
    return tmp_path


def q(*keys):
    return identifier_from_keys(keys)


def uids(results, kw):
    return sorted(str(r.get(kw)) for r in results)


def test_study_level_universal_and_return_keys(store):
    idx = StorageIndex(store)
    res = list(idx.find(q("QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName",
                          "ModalitiesInStudy", "NumberOfStudyRelatedInstances")))
    assert len(res) == 3
    by_mod = {str(r.ModalitiesInStudy): r for r in res}
    assert set(by_mod) == {"CT", "MR", "RTPLAN"}
    assert str(by_mod["CT"].PatientName) == "CompressedSamples^CT1"
    assert by_mod["CT"].NumberOfStudyRelatedInstances == 1
    assert all(r.QueryRetrieveLevel == "STUDY" for r in res)


def test_single_value_wildcards_and_case(store):
    idx = StorageIndex(store)
    assert len(list(idx.find(q("QueryRetrieveLevel=STUDY", "PatientName=Compressed*")))) == 2
    assert len(list(idx.find(q("QueryRetrieveLevel=STUDY", "PatientName=compressedsamples^?T1"
                               )))) == 1  # PN: case-insensitive
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    res = list(idx.find(q("QueryRetrieveLevel=STUDY", f"PatientID={ct.PatientID}")))
    assert uids(res, "StudyInstanceUID") == [ct.StudyInstanceUID]
    assert list(idx.find(q("QueryRetrieveLevel=STUDY", "PatientID=nobody"))) == []


def test_uid_list_and_modalities(store):
    idx = StorageIndex(store)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    res = list(idx.find(q("QueryRetrieveLevel=STUDY",
                          f"StudyInstanceUID={ct.StudyInstanceUID}\\{mr.StudyInstanceUID}")))
    assert uids(res, "StudyInstanceUID") == sorted([ct.StudyInstanceUID, mr.StudyInstanceUID])
    res = list(idx.find(q("QueryRetrieveLevel=STUDY", "ModalitiesInStudy=MR")))
    assert uids(res, "StudyInstanceUID") == [mr.StudyInstanceUID]


def test_date_ranges(store):
    idx = StorageIndex(store)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    d = ct.StudyDate
    for rng in (f"{d}-{d}", f"-{d}", f"{d}-", d):
        res = list(idx.find(q("QueryRetrieveLevel=STUDY", f"StudyDate={rng}",
                              f"PatientID={ct.PatientID}")))
        assert len(res) == 1, rng
    assert list(idx.find(q("QueryRetrieveLevel=STUDY", "StudyDate=19000101-19000102"))) == []
    assert match_value("1000-1200", ["1130"], "TM") and not match_value("1000-1100", ["1130"],
                                                                          "TM")


def test_series_image_levels_and_patient_root(store):
    idx = StorageIndex(store)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    res = list(idx.find(q("QueryRetrieveLevel=SERIES", f"StudyInstanceUID={ct.StudyInstanceUID}",
                          "Modality", "SeriesInstanceUID")))
    assert uids(res, "SeriesInstanceUID") == [ct.SeriesInstanceUID]
    assert res[0].Modality == "CT"
    res = list(idx.find(q("QueryRetrieveLevel=IMAGE", f"SeriesInstanceUID={ct.SeriesInstanceUID}",
                          "SOPInstanceUID")))
    assert uids(res, "SOPInstanceUID") == [ct.SOPInstanceUID]
    res = list(idx.find(q("QueryRetrieveLevel=PATIENT", "PatientID", "PatientName",
                          "NumberOfPatientRelatedStudies"), model="patient"))
    assert len(res) == 3
    with pytest.raises(QueryError):  # no PATIENT level in the Study Root model
        list(idx.find(q("QueryRetrieveLevel=PATIENT"), model="study"))
    with pytest.raises(QueryError):  # a key below the level
        list(idx.find(q("QueryRetrieveLevel=STUDY", "SOPInstanceUID=1.2")))


def test_refresh_sees_new_changed_and_deleted_files(store):
    idx = StorageIndex(store)
    assert len(list(idx.find(q("QueryRetrieveLevel=STUDY")))) == 3
    os.unlink(store / "rtplan.dcm")
    shutil.copy(get_testdata_file("MR_small_implicit.dcm"), store / "new.dcm")
    (store / ".x.partial").write_bytes(b"junk")
    (store / "junk.txt").write_bytes(b"not dicom")
    idx.refresh()
    assert sorted(os.path.basename(p) for p in idx.records) == ["CT_small.dcm", "MR_small.dcm",
                                                                "new.dcm"]


def test_retrieve_selects_instances(store):
    idx = StorageIndex(store)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    recs = idx.retrieve(q("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={ct.StudyInstanceUID}"))
    assert [os.path.basename(r.path) for r in recs] == ["CT_small.dcm"]
    with pytest.raises(QueryError):
        idx.retrieve(q("QueryRetrieveLevel=STUDY"))


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
def test_identifier_round_trip(ts):
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "A^B"
    ds.StudyInstanceUID = ""
    back = decode_identifier(encode_identifier(ds, ts), ts)
    assert back.QueryRetrieveLevel == "STUDY" and str(back.PatientName) == "A^B"
    assert "StudyInstanceUID" in back
