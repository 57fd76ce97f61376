"""Helpers shared by the test modules, one home for each: ports (net), outside programs (tools),
the running service (service), a hand-made SCU (rawscu), DICOM instances (instances), a PKI (tlsutil),
a disk that logs its writes and flushes for power-cut replays (writelog)."""
