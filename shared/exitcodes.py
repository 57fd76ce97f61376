"""Process exit codes, the same numbers dcmrecv 3.6.7 uses (plus one of ours).

An operator's scripts test these numbers, so they must not drift from dcmrecv.
"""

NO_ERROR = 0
COMMANDLINE_SYNTAX_ERROR = 1
INVALID_OUTPUT_DIRECTORY = 45
CANNOT_START_SCP_AND_LISTEN = 64
INVALID_ASSOCIATION_CONFIG = 66
CANNOT_CREATE_TRANSPORT_LAYER = 71

# Ours (not in dcmrecv): the worker processes died while the service was starting.
WORKERS_CANNOT_BOOT = 70

# Between a worker process and its supervisor only: "I cannot boot, do not respawn me".
WORKER_BOOT_FAILURE = 3
