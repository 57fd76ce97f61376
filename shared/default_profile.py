"""Our embedded "accept all storage" profile (not a copy of DCMTK's storescp.cfg).

Contents:
* Verification with Implicit VR LE, Explicit VR LE, Explicit VR BE.
* Every storage SOP class pynetdicom knows (``pynetdicom.AllStoragePresentationContexts``), in
  pynetdicom's order (by UID), as written out in ``shared/embedded_classes.py`` (the supervisor
  builds this profile without importing pydicom or pynetdicom).

Transfer syntaxes, in SCP preference order (the SCP's order decides, as in DCMTK):
* Image classes -- name contains "Image", or one of the pixel-data IODs in ``_PIXEL_DATA_NON_IMAGE``
  whose name lacks the word (volumes, maps, segmentations; pynetdicom has no separate image list) --
  accept every transfer syntax pydicom knows (``pydicom.uid.AllTransferSyntaxes``, written out
  there too) with the
  compressed ones first, in storescp.cfg's ``AnyTransferSyntax`` order for those it lists and then
  the others, followed by Deflated, Explicit LE, Explicit BE, Implicit LE.  A sender that proposes
  its compressed syntax together with an uncompressed one is thus never asked to decompress; a
  sender with uncompressed data proposes uncompressed syntaxes only and gets one of them.
* All other classes: Deflated Explicit LE, Explicit LE, Explicit BE, Implicit LE
  (storescp.cfg's ``UncompressedOrZlib`` order).

Left out: JPIP HTJ2K Referenced Deflate (``1.2.840.10008.1.2.4.205``), whose dataset is deflated
although pydicom 3.0's ``UID.is_deflated`` says otherwise; so the only deflated syntax a receiver of
this profile must inflate is ``1.2.840.10008.1.2.1.99``.

This profile exceeds 128 contexts; the 128-entry limit applies to DCMTK config files only.
"""

from __future__ import annotations

from functools import lru_cache

from dcmrecv_cluster.shared.asconfig import AssociationProfile, PresentationContextSpec
from dcmrecv_cluster.shared.embedded_classes import STORAGE_CLASSES, TRANSFER_SYNTAXES

__all__ = [
    "EMBEDDED_PROFILE_NAME",
    "IMAGE_TRANSFER_SYNTAXES",
    "NON_IMAGE_TRANSFER_SYNTAXES",
    "default_profile",
    "is_image_class",
]

EMBEDDED_PROFILE_NAME = "EMBEDDED-DEFAULT"

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
_UNCOMPRESSED = (DEFLATED_LE, EXPLICIT_LE, EXPLICIT_BE, IMPLICIT_LE)
_LEFT_OUT = frozenset({"1.2.840.10008.1.2.4.205"})

# Compressed syntaxes in the order storescp.cfg's [AnyTransferSyntax] prefers them.
_STORESCP_COMPRESSED_ORDER = (
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.51",  # JPEG extended 2+4
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.5",  # RLE
    "1.2.840.10008.1.2.4.100",  # MPEG2 MP@ML
    "1.2.840.10008.1.2.4.101",  # MPEG2 MP@HL
    "1.2.840.10008.1.2.4.102",  # MPEG-4 HP/4.1
    "1.2.840.10008.1.2.4.103",  # MPEG-4 BD HP/4.1
    "1.2.840.10008.1.2.4.104",  # MPEG-4 HP/4.2 2D
    "1.2.840.10008.1.2.4.105",  # MPEG-4 HP/4.2 3D
    "1.2.840.10008.1.2.4.106",  # MPEG-4 stereo HP/4.2
    "1.2.840.10008.1.2.4.107",  # HEVC MP/5.1
    "1.2.840.10008.1.2.4.108",  # HEVC M10P/5.1
)

# Storage classes with pixel data whose pynetdicom name lacks the word "Image".
_PIXEL_DATA_NON_IMAGE = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
        "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.66.7",  # Label Map Segmentation
        "1.2.840.10008.5.1.4.1.1.66.8",  # Height Map Segmentation
        "1.2.840.10008.5.1.4.1.1.77.1.5.8",  # Ophthalmic OCT B-scan Volume Analysis
        "1.2.840.10008.5.1.4.1.1.81.1",  # Ophthalmic Thickness Map
        "1.2.840.10008.5.1.4.1.1.82.1",  # Corneal Topography Map
    }
)


def _image_transfer_syntaxes() -> tuple[str, ...]:
    known = [uid for uid in TRANSFER_SYNTAXES if uid not in _LEFT_OUT]
    compressed = [ts for ts in _STORESCP_COMPRESSED_ORDER if ts in known]
    compressed += [ts for ts in known if ts not in compressed and ts not in _UNCOMPRESSED]
    return tuple(compressed) + _UNCOMPRESSED


IMAGE_TRANSFER_SYNTAXES: tuple[str, ...] = _image_transfer_syntaxes()
NON_IMAGE_TRANSFER_SYNTAXES: tuple[str, ...] = _UNCOMPRESSED


def is_image_class(name: str, uid: str) -> bool:
    """Whether a storage class gets every transfer syntax (see module docstring)."""
    return "Image" in name or uid in _PIXEL_DATA_NON_IMAGE


@lru_cache(maxsize=1)
def default_profile() -> AssociationProfile:
    """The embedded profile; built once, immutable, shared."""
    contexts = [PresentationContextSpec(VERIFICATION, (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE))]
    for uid, keyword in STORAGE_CLASSES:
        # pydicom's keyword; "" for a class pydicom does not know, decided by _PIXEL_DATA_NON_IMAGE alone
        syntaxes = IMAGE_TRANSFER_SYNTAXES if is_image_class(keyword, uid) else NON_IMAGE_TRANSFER_SYNTAXES
        contexts.append(PresentationContextSpec(uid, syntaxes))
    return AssociationProfile(name=EMBEDDED_PROFILE_NAME, contexts=tuple(contexts))
