"""`dcmrecv-cluster-status`: what a running node is doing, read from its ``/status`` page.

The page is served next to ``/metrics`` (``--metrics-port``) rather than over
the supervisor's control channel: that channel is a private IPC socket of one
process tree, whereas the HTTP page works from any host that can scrape the
node, needs no change to the arbiter's loop, and gives tools the same JSON.

Exit status: 0 the node answered, 1 it could not be reached or did not answer
with a status page (a DICOM port, say), 2 command-line error.
"""

from __future__ import annotations

import http.client
import json
import sys
import urllib.request

import click


def fetch_status(host: str, port: int, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(f"http://{_host(host)}:{port}/status", timeout=timeout) as answer:
        return json.loads(answer.read())


def render(status: dict) -> str:
    """The human-readable summary."""
    if status.get("starting"):
        return f"dcmrecv-cluster (pid {status.get('pid')}) starting since {status.get('since')}\n"
    node = "" if status.get("node_id") is None else f", node {status['node_id']}"
    lines = [f"dcmrecv-cluster on port {status['port']} (pid {status['pid']}{node}), "
             f"up since {status['since']} ({_duration(status['uptime_seconds'])})"
             + (", stopping" if status.get("stopping") else "")]
    workers = status["workers"]
    associations = status["associations"]
    lines.append(f"workers: {sum(w['up'] for w in workers)}/{len(workers)} up, "
                 f"{status['worker_restarts']} restart(s)"
                 + (f", {status['retiring_workers']} retiring" if status.get("retiring_workers") else ""))
    for worker in workers:
        state = "up" if worker["up"] else ("starting" if worker["pid"] else "down")
        lines.append(f"  worker {worker['index']}: pid {worker['pid']}, {state}, {worker['active']} active"
                     + (f", since {worker['since']}" if worker.get("since") else ""))
    lines.append(f"associations: {associations['active']} active, {associations['total']} total, "
                 f"{sum(associations['rejected'].values())} rejected{_breakdown(associations['rejected'])}")
    instances = status["instances"]
    lines.append(f"instances: {instances['stored']} stored ({instances['bytes']} bytes), "
                 f"{sum(instances['failed'].values())} failed{_breakdown(instances['failed'])}")
    events = status.get("events")
    if events:
        lines.append(f"events: {events['endpoint']}, {events['published']} published, "
                     f"{sum(events['dropped'].values())} dropped{_breakdown(events['dropped'])}, "
                     f"{'subscribed' if events['listening'] else 'no subscriber'}")
    return "\n".join(lines) + "\n"


def _breakdown(counts: dict) -> str:
    shown = ", ".join(f"{key} {value}" for key, value in sorted(counts.items()) if value)
    return f" ({shown})" if shown else ""


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="The node's address.")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="The node's --metrics-port.")
@click.option("--json", "as_json", is_flag=True, help="Print the status page as JSON.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=5.0, show_default=True,
              help="Seconds to wait for an answer.")
@click.version_option(package_name="dcmrecv-cluster", prog_name="dcmrecv-cluster-status")
def main(host: str, port: int, as_json: bool, timeout: float) -> None:
    """Show what a running dcmrecv-cluster is doing (it must run with --metrics-port)."""
    try:
        status = fetch_status(host, port, timeout)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError and timeouts are OSErrors, bad JSON a ValueError, a non-HTTP answer an HTTPException
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, http.client.HTTPException):
            reason = f"not an HTTP status page ({type(exc).__name__}); is {port} the node's --metrics-port?"
        _fail(f"no status from {host}:{port}: {reason}")
    try:
        text = json.dumps(status, indent=2) + "\n" if as_json else render(status)
    except (KeyError, TypeError, AttributeError) as exc:
        _fail(f"unexpected status page from {host}:{port}: {exc!r}")
    sys.stdout.write(text)


def _fail(text: str) -> None:
    click.echo(f"dcmrecv-cluster-status: {text}", err=True)
    sys.exit(1)


def run() -> None:
    main()


if __name__ == "__main__":
    run()
