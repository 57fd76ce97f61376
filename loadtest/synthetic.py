"""Synthetic instances built once with pydicom, then patched per send.

pydicom is imported here only, in the parent process: workers receive the
encoded bytes and never decode anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .payload import InstanceSpec
from .uids import placeholder_uid

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
TS_ALIASES = {"implicit": IMPLICIT_LE, "explicit": EXPLICIT_LE}

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"

_MODALITY = {MR_IMAGE: "MR", CT_IMAGE: "CT"}
# SOP classes whose IODs carry Number of Frames even for one frame
_MULTIFRAME = {MF_GRAYSCALE_WORD_SC, "1.2.840.10008.5.1.4.1.1.7.2",
               "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4.1"}


@dataclass(frozen=True)
class SyntheticShape:
    """What to generate; presets are the project's standard loads."""

    sop_class_uid: str = MR_IMAGE
    rows: int = 256
    columns: int = 256
    frames: int = 1
    bits: int = 16
    transfer_syntax: str = IMPLICIT_LE


PRESETS = {
    "mr": SyntheticShape(MR_IMAGE, 256, 256, 1, 16),          # ~130 KiB
    "ct": SyntheticShape(CT_IMAGE, 512, 512, 1, 16),          # ~520 KiB
    "big": SyntheticShape(MF_GRAYSCALE_WORD_SC, 512, 512, 128, 16),  # 64 MiB
}


def resolve_sop_class(value: str) -> str:
    """Accept a UID or a pydicom keyword such as 'CTImageStorage'."""
    if value and value[0].isdigit():
        return value
    import pydicom.uid

    uid = getattr(pydicom.uid, value, None)
    if uid is None:
        raise ValueError(f"unknown SOP class keyword: {value}")
    return str(uid)


def resolve_transfer_syntax(value: str) -> str:
    ts = TS_ALIASES.get(value.lower(), value)
    if ts not in (IMPLICIT_LE, EXPLICIT_LE):
        raise ValueError("synthetic instances support implicit or explicit VR little endian only")
    return ts


def _pixels(nbytes: int) -> bytes:
    pattern = bytes(range(256)) * 16
    reps = nbytes // len(pattern) + 1
    return (pattern * reps)[:nbytes]


def build(shape: SyntheticShape) -> InstanceSpec:
    """Encode one instance with a placeholder UID and record where the UID lies."""
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import generate_uid

    if shape.bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    marker = placeholder_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = shape.sop_class_uid
    ds.SOPInstanceUID = marker
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "LOADTEST"
    ds.Modality = _MODALITY.get(shape.sop_class_uid, "OT")
    ds.Manufacturer = "dcmrecv-cluster-loadtest"
    ds.PatientName = "Load^Test"
    ds.PatientID = "LOADTEST"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if shape.frames > 1 or shape.sop_class_uid in _MULTIFRAME:
        ds.NumberOfFrames = shape.frames
    ds.Rows = shape.rows
    ds.Columns = shape.columns
    ds.BitsAllocated = shape.bits
    ds.BitsStored = shape.bits
    ds.HighBit = shape.bits - 1
    ds.PixelRepresentation = 0
    nbytes = shape.rows * shape.columns * shape.frames * (shape.bits // 8)
    ds.PixelData = _pixels(nbytes + (nbytes % 2))
    ds["PixelData"].VR = "OW" if shape.bits == 16 else "OB"

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = shape.transfer_syntax == IMPLICIT_LE
    write_dataset(fp, ds)
    data = fp.getvalue()
    raw = marker.encode()
    offset = data.find(raw)
    if offset < 0 or data.find(raw, offset + 1) >= 0:
        raise RuntimeError("placeholder UID not found exactly once in the encoded data set")
    return InstanceSpec(sop_class_uid=shape.sop_class_uid,
                        transfer_syntax=shape.transfer_syntax,
                        sop_instance_uid=marker, size=len(data), dataset=data,
                        uid_offset=offset)


def shape_from_options(preset: str | None, **overrides) -> SyntheticShape:
    """A preset (or the MR default) with any explicitly given fields replaced."""
    shape = PRESETS[preset] if preset else SyntheticShape()
    given = {k: v for k, v in overrides.items() if v is not None}
    if "sop_class_uid" in given:
        given["sop_class_uid"] = resolve_sop_class(given["sop_class_uid"])
    if "transfer_syntax" in given:
        given["transfer_syntax"] = resolve_transfer_syntax(given["transfer_syntax"])
    return replace(shape, **given)
