"""The outside programs the tests run, and where they are: DCMTK from the Debian package (the oracle
and the senders), HAProxy (the balancer of the scale-out tests), OpenSSL, and the system's mkfs, mount
and losetup (the filesystem tests, as root). `make test` installs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dcmrecv_cluster.loadtest.scratchfs import system_tool

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


def system(*argv: str) -> str:
    """Run a system program (mkfs, mount, losetup: found in sbin too); its output, or an error."""
    return subprocess.run([system_tool(argv[0]) or argv[0], *argv[1:]], check=True, capture_output=True,
                          text=True, timeout=120).stdout
