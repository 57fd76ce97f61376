"""The outside programs the tests run, and where they are: DCMTK from the Debian package (the oracle
and the senders), HAProxy (the balancer of the scale-out tests) and OpenSSL. `make test` installs them."""

from __future__ import annotations

from pathlib import Path

DCMTK = Path("/usr/bin")
DCMRECV = str(DCMTK / "dcmrecv")
STORESCU = str(DCMTK / "storescu")
STORESCP = str(DCMTK / "storescp")
#: The association profiles shipped with DCMTK (profile "Default" accepts every storage class).
STORESCP_CFG = "/etc/dcmtk/storescp.cfg"
HAPROXY = "/usr/sbin/haproxy"
OPENSSL = "/usr/bin/openssl"


def dcmtk(tool: str) -> str:
    """DCMTK's binary, never pynetdicom's same-named console script from the venv."""
    path = DCMTK / tool
    assert path.exists(), f"DCMTK {tool} is missing: make test installs the dcmtk package"
    return str(path)
