"""Test instances made with pydicom, so tests need no data files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"


def make_instance(path: Path, sop_class: str = CT_IMAGE, rows: int = 64, columns: int = 64,
                  frames: int = 1, series_date: str | None = "20230415", instance_uid: str | None = None,
                  transfer_syntax: str = ExplicitVRLittleEndian, modality: str = "CT") -> Path:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance_uid or generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = "Test^Patient"
    ds.PatientID = "ID1"
    if series_date is not None:
        ds.SeriesDate = series_date
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    pixels = (np.arange(rows * columns * frames, dtype=np.uint32) % 65521).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(path, enforce_file_format=True)
    return path


def make_series(directory: Path, count: int, **kwargs) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [make_instance(directory / f"img{i:04d}.dcm", **kwargs) for i in range(count)]


def dataset_of(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def encode(ds: Dataset, implicit: bool = False, little: bool = True) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit, little
    write_dataset(buffer, ds)
    return buffer.getvalue()


def small_dataset(sop_class: str | None = CT_IMAGE, sop_instance: str | None = "1.2.826.0.1.77.1",
                  series_date: str | None = "20230415", pixels: int = 64) -> Dataset:
    ds = Dataset()
    if sop_class is not None:
        ds.SOPClassUID = sop_class
    if sop_instance is not None:
        ds.SOPInstanceUID = sop_instance
    if series_date is not None:
        ds.SeriesDate = series_date
    ds.Modality = "CT"
    ds.PatientName = "Raw^Sender"
    ds.add_new(0x7FE00010, "OB", bytes(pixels))
    return ds
