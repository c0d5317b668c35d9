"""Identifiers (C-FIND/C-MOVE/C-GET data sets) to and from bytes, and the Q/R SOP classes."""

from __future__ import annotations

from ..ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"

#: SOP class -> (information model, service)
QR_SOP_CLASSES = {
    PATIENT_ROOT_FIND: ("patient", "find"), PATIENT_ROOT_MOVE: ("patient", "move"),
    PATIENT_ROOT_GET: ("patient", "get"), STUDY_ROOT_FIND: ("study", "find"),
    STUDY_ROOT_MOVE: ("study", "move"), STUDY_ROOT_GET: ("study", "get"),
}
SOP_CLASS = {v: k for k, v in QR_SOP_CLASSES.items()}
QR_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)


def decode_identifier(data: bytes, transfer_syntax: str):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset
    if transfer_syntax not in QR_TRANSFER_SYNTAXES:
        raise ValueError(f"identifiers in {transfer_syntax} are not supported")
    return read_dataset(DicomBytesIO(bytes(data or b"")),
                        transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN, True)


def encode_identifier(ds, transfer_syntax: str) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
    write_dataset(fp, ds)
    return fp.getvalue()


def identifier_from_keys(keys) -> "object":
    """A pydicom Dataset from DCMTK-style ``-k`` keys: ``Keyword=value``, ``Keyword`` (empty:
    a return key) or ``gggg,eeee=value``."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag
    ds = Dataset()
    for key in keys:
        name, _, value = key.partition("=")
        name = name.strip().strip("()")
        if "," in name:
            g, e = name.split(",")
            tag = Tag(int(g, 16), int(e, 16))
        else:
            tag = tag_for_keyword(name)
            if tag is None:
                raise ValueError(f"unknown attribute keyword {name!r}")
            tag = Tag(tag)
        vr = dictionary_VR(tag)
        if vr == "SQ":
            ds.add_new(tag, vr, [])
        else:
            ds.add_new(tag, vr, value if value else None)
    return ds
