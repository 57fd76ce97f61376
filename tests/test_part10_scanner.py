"""The dataset scanner judges a dataset the same however it arrives.

Its whole-buffer pass (plain elements already received) and its walk (elements
that span receives, sequences) must agree: fed at once, byte by byte or in
random pieces, and on corrupted bytes, a dataset gets the same facts and the
same verdict. dcmrecv's verdicts themselves are compared in test_storage.
"""

from __future__ import annotations

import random

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dcmrecv_cluster.shared.part10 import DatasetError, DatasetScanner

from .support.instances import CT_IMAGE, encode

SYNTAXES = {"1.2.840.10008.1.2": (True, True), "1.2.840.10008.1.2.1": (False, True),
            "1.2.840.10008.1.2.2": (False, False)}


def _dataset(with_sequence: bool) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = "1.2.826.0.1.600.1"
    ds.SeriesDate = "20240229"
    ds.Modality = "CT"
    ds.PatientName = "Scan^Ner"
    if with_sequence:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator = "T-1", "SRT"
        ds.AnatomicRegionSequence = Sequence([item, Dataset()])
    ds.StudyInstanceUID = "1.2.826.0.1.600.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.600.3"
    ds.Rows, ds.Columns = 4, 4
    ds.add_new(0x7FE00010, "OW", bytes(range(32)))
    return ds


def _verdict(data: bytes, syntax: str, pieces: list[int]) -> tuple:
    scanner = DatasetScanner(syntax)
    offset = 0
    for size in pieces:
        scanner.feed(memoryview(data)[offset:offset + size])
        offset += size
    scanner.feed(memoryview(data)[offset:])
    try:
        scanner.close()
    except DatasetError as exc:
        return ("error", str(exc))
    return ("ok", scanner.facts(), scanner.is_empty)


def _splits(length: int, rng: random.Random) -> list[list[int]]:
    return [[], [1] * length, [rng.randint(1, 40) for _ in range(length // 8)], [7] * (length // 7)]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("with_sequence", [False, True])
def test_same_verdict_whatever_the_pieces(syntax, with_sequence):
    implicit, little = SYNTAXES[syntax]
    data = encode(_dataset(with_sequence), implicit=implicit, little=little)
    rng = random.Random(1)
    whole = _verdict(data, syntax, [])
    assert whole[0] == "ok" and whole[1].sop_instance_uid == "1.2.826.0.1.600.1"
    assert whole[1].series_instance_uid == "1.2.826.0.1.600.3"
    for pieces in _splits(len(data), rng):
        assert _verdict(data, syntax, pieces) == whole


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_same_verdict_on_corrupted_and_truncated_bytes(syntax):
    implicit, little = SYNTAXES[syntax]
    data = encode(_dataset(True), implicit=implicit, little=little)
    rng = random.Random(2)
    verdicts = set()
    for case in range(150):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        broken = bytes(broken[:rng.randint(0, len(broken))] if case % 3 == 0 else broken)
        whole = _verdict(broken, syntax, [])
        verdicts.add(whole[0])
        for pieces in _splits(len(broken), rng)[1:]:
            assert _verdict(broken, syntax, pieces) == whole, (case, broken.hex())
    assert verdicts == {"ok", "error"}          # the corruption produced both kinds of dataset
