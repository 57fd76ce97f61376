"""shared/sequence_tags.py is PS3.6's list of sequence attributes, as pydicom's data dictionary has it.

Workers read it for implicit-VR data sets instead of importing pydicom (and with it
numpy: ~34 MB and half a second in each worker, at its first implicit-VR store).
``python -m tests.test_sequence_tags`` rewrites the table after a pydicom upgrade.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.datadict import DicomDictionary

from dcmrecv_cluster.shared.sequence_tags import SEQUENCE_TAGS

from .support.imports import heavy_imports_of

TABLE = Path(__file__).resolve().parent.parent / "shared" / "sequence_tags.py"
HEADER = '''"""Tags of the data elements whose VR is SQ (PS3.6): what an implicit-VR data set does not say.

Taken from pydicom's data dictionary (tests/test_sequence_tags.py checks it and rewrites
it), so that workers need not import pydicom and numpy to read implicit-VR data.
"""

SEQUENCE_TAGS = frozenset((
'''


def dictionary_sequence_tags() -> list[int]:
    return sorted(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")


def test_the_table_is_the_dictionary_s_sequences():
    assert sorted(SEQUENCE_TAGS) == dictionary_sequence_tags(), "run: python -m tests.test_sequence_tags"


def test_workers_read_implicit_vr_without_pydicom():
    assert heavy_imports_of("from dcmrecv_cluster.shared import part10\n"
                            "assert part10._implicit_is_sequence(0x0008, 0x1115)\n"
                            "assert not part10._implicit_is_sequence(0x0008, 0x0018)") == []


def write_table() -> None:
    tags = dictionary_sequence_tags()
    lines = ["    " + ", ".join(f"0x{tag:08X}" for tag in tags[n:n + 7]) + "," for n in range(0, len(tags), 7)]
    TABLE.write_text(HEADER + "\n".join(lines) + "\n))\n")


if __name__ == "__main__":
    write_table()
