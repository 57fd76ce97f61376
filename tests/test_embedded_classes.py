"""shared/embedded_classes.py is what pynetdicom and pydicom list, written out.

The embedded profile (--embedded-profile, `make run`) accepts every storage class
pynetdicom knows with the transfer syntaxes pydicom knows. Read from the libraries,
that cost the supervisor ~0.1 s and ~27 MB at every start (pydicom, numpy, pynetdicom);
written out, it costs neither. ``python -m tests.test_embedded_classes`` rewrites the
table after an upgrade of either library.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.uid import UID, AllTransferSyntaxes
from pynetdicom import AllStoragePresentationContexts

from dcmrecv_cluster.shared import embedded_classes

from .support.imports import heavy_imports_of

TABLE = Path(__file__).resolve().parent.parent / "shared" / "embedded_classes.py"
HEADER = '''"""The storage SOP classes pynetdicom knows and the transfer syntaxes pydicom knows, in their order.

The embedded profile (shared/default_profile.py) is built from these. Written out
(tests/test_embedded_classes.py checks them against the libraries and rewrites this
file) so that the supervisor does not import pydicom, numpy and pynetdicom to start.
"""

#: (UID, keyword in pydicom) of pynetdicom.AllStoragePresentationContexts, first of each UID.
STORAGE_CLASSES = (
'''


def from_the_libraries() -> tuple[list[tuple[str, str]], list[str]]:
    classes, seen = [], set()
    for context in AllStoragePresentationContexts:
        uid = str(context.abstract_syntax)
        if uid not in seen:
            seen.add(uid)
            classes.append((uid, UID(uid).keyword))
    return classes, [str(uid) for uid in AllTransferSyntaxes]


def test_the_table_is_what_the_libraries_list():
    classes, syntaxes = from_the_libraries()
    assert list(embedded_classes.STORAGE_CLASSES) == classes, "run: python -m tests.test_embedded_classes"
    assert list(embedded_classes.TRANSFER_SYNTAXES) == syntaxes, "run: python -m tests.test_embedded_classes"


def test_the_embedded_profile_is_built_without_pydicom():
    assert heavy_imports_of("from dcmrecv_cluster.shared.default_profile import default_profile\n"
                            "assert len(default_profile().contexts) > 100") == []


def write_table() -> None:
    classes, syntaxes = from_the_libraries()
    text = HEADER + "".join(f"    ({uid!r}, {keyword!r}),\n" for uid, keyword in classes) + ")\n\n"
    text += "#: pydicom.uid.AllTransferSyntaxes\nTRANSFER_SYNTAXES = (\n"
    text += "".join(f"    {uid!r},\n" for uid in syntaxes) + ")\n"
    TABLE.write_text(text.replace("'", '"'))


if __name__ == "__main__":
    write_table()
