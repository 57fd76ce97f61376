#!/bin/sh
# `make cluster-demo`: three dcmrecv-cluster nodes on 127.0.0.11-13 behind HAProxy on 127.0.0.1:$PORT,
# all writing into $OUT (+fd names; --node-id keeps +fsu names apart). Send to the balancer, e.g.
#   storescu 127.0.0.1 $PORT image.dcm
# Ctrl-C (or SIGTERM) drains the nodes, stops HAProxy, and leaves the logs in a temporary folder.
set -eu
BIN=${BIN:-.venv/bin}
OUT=${OUT:-incoming}
PORT=${PORT:-11112}
AGENT_PORT=${AGENT_PORT:-$((PORT + 1))}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d "${TMPDIR:-/tmp}/dcmrecv-cluster-demo.XXXXXX")
NODES=""
LB=""
mkdir -p "$OUT"

stop() {
    trap - INT TERM EXIT
    for pid in $NODES; do kill -TERM "$pid" 2>/dev/null || true; done    # each drains, then exits 0
    for pid in $NODES; do wait "$pid" 2>/dev/null || true; done
    [ -z "$LB" ] || { kill -TERM "$LB" 2>/dev/null || true; wait "$LB" 2>/dev/null || true; }
    echo "cluster-demo stopped; node logs in $RUN"
}
trap stop INT TERM EXIT

# setsid: a terminal's Ctrl-C reaches only this script, which then signals each process once
# (a second signal would make a draining node stop at once).
for n in 1 2 3; do
    setsid "$BIN/dcmrecv-cluster" --verbose --embedded-profile --bind "127.0.0.1$n" --node-id "$n" \
        --proxy-protocol v2 --proxy-trust 127.0.0.1/32 --agent-port "$AGENT_PORT" \
        --output-directory "$OUT" "$PORT" >"$RUN/node$n.log" 2>&1 &
    NODES="$NODES $!"
done
DCMRECV_LB_ADMIN="$RUN/admin.sock" DCMRECV_LB_BIND="127.0.0.1:$PORT" DCMRECV_NODE_PORT="$PORT" \
    DCMRECV_AGENT_PORT="$AGENT_PORT" setsid "$HAPROXY" -db -f "$HERE/haproxy.cfg" &
LB=$!
echo "cluster-demo: HAProxy on 127.0.0.1:$PORT -> nodes 127.0.0.11-13:$PORT (agents on :$AGENT_PORT), output in $OUT"
echo "  node logs: $RUN/node{1,2,3}.log; runtime API: echo 'show stat' | socat - $RUN/admin.sock"
wait "$LB"
