"""`python -m dcmrecv_cluster.loadtest.bench`: dcmrecv-cluster against DCMTK, one run.

Every cell (load x server) starts the server afresh on a free loopback port
with a fresh output directory, sends the load, and records throughput plus
the server's CPU seconds (process group, children included) and resident
memory. By default the senders are DCMTK storescu processes (TCP_NODELAY=1)
sending a fixed count of files each, as modalities do, and the output
directories are on a journaled ext4 made for the run (loadtest/scratchfs.py);
``--sender driver`` uses the bundled driver for a fixed duration instead, with
latency percentiles. Servers are alternated within each repetition; the table
shows medians with min-max.

DCMTK's servers never sync: at the end of a run their data are still in the page
cache, and the kernel writes them back later, on nobody's clock. So after each
storescu sending the output's filesystem is synced (``sync -f``) and timed: the
"on disk" figure counts the instances over the sending plus that sync, and the
machine CPU per instance (/proc/stat, senders and kernel threads included)
covers both, the same work for every server: the data on the disk.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

from . import procstat, scratchfs, storescu_load, synthetic
from .servers import DEFAULT_SERVERS, PROJECT, ServerError, ServerSpec, start

DCMTK = ("dcmrecv", "storescp")  # names starting with these are the reference servers


def _is_dcmtk(server: str) -> bool:
    return server.startswith(DCMTK) and not server.startswith(PROJECT)   # "dcmrecv-cluster" starts "dcmrecv"


@dataclass(frozen=True)
class Load:
    name: str
    preset: str
    associations: int
    per_sender: int = 0     # instances each storescu sends (the driver sends for --duration instead)


LOADS = [Load("mr16", "mr", 16, 250), Load("ct8", "ct", 8, 100), Load("mr1", "mr", 1, 1500),
         Load("big24", "big", 24, 1)]
# With storescu as the sender: the project durable and without sync, against DCMTK with TCP_NODELAY=1
# (as shipped, DCMTK stalls ~40 ms per exchange on delayed ACKs and measures nothing but that).
STORESCU_SERVERS = (PROJECT, PROJECT + "-nofsync", PROJECT + "-1worker", PROJECT + "-nofsync-1worker",
                    "storescp+nodelay", "dcmrecv+nodelay")


def _pick(names: list[str], wanted: str | None, alias=lambda n: ()) -> list[str]:
    if not wanted:
        return list(names)
    out = []
    for token in (t.strip() for t in wanted.split(",") if t.strip()):
        hits = [n for n in names if n == token or token in alias(n)]
        if not hits:
            hits = [n for n in names if fnmatch.fnmatchcase(n, token)]
        if not hits:
            raise SystemExit(f"bench: nothing matches {token!r} (choose from {', '.join(names)})")
        out += [h for h in hits if h not in out]
    return out


def _settle_cpu(pgid: int, max_wait: float = 3.0) -> float:
    """Group CPU seconds once it stops growing (children finishing their writes)."""
    last = procstat.group_cpu_seconds(pgid)
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = procstat.group_cpu_seconds(pgid)
        if now - last < 0.005:
            return now
        last = now
    return last


def run_cell(spec: ServerSpec, load: Load, workdir: str, workers: int, send) -> dict:
    """One server start, one sending, one set of figures (server CPU and memory measured here)."""
    server = start(spec, workdir, workers)
    cell = {"server": spec.name, "load": load.name}
    try:
        sampler = procstat.RssSampler(server.pgid).start()
        cpu0 = procstat.group_cpu_seconds(server.pgid)
        cell.update(send(server))
        cpu1 = _settle_cpu(server.pgid)
        cell["memory"] = sampler.stop()
        acked = cell.get("acknowledged")
        cell["server_cpu_s"] = cpu1 - cpu0
        cell["server_cpu_ms_per_instance"] = (cpu1 - cpu0) / acked * 1e3 if acked else None
        return cell
    finally:
        cell["server_exit"] = server.stop()
        if cell.get("error"):
            cell["server_log"] = server.log_tail()
        shutil.rmtree(server.outdir, ignore_errors=True)
        for suffix in (".log", ".json"):
            try:
                os.unlink(server.outdir + suffix)
            except OSError:
                pass


def driver_sender(load: Load, duration: float, driver_processes: int):
    """The bundled driver for ``duration`` seconds: latency percentiles, TCP_NODELAY on its side."""
    def send(server) -> dict:
        summary_path = server.outdir + ".json"
        argv = [sys.executable, "-m", "dcmrecv_cluster.loadtest.cli", "127.0.0.1",
                str(server.port), "--preset", load.preset, "-a", str(load.associations),
                "-j", str(min(load.associations, driver_processes)),
                "--duration", str(duration), "--no-progress", "-q", "--json", summary_path,
                "--acse-timeout", str(max(120.0, duration * 4)),
                "--dimse-timeout", str(max(120.0, duration * 4))]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration * 6 + 300)
        try:
            with open(summary_path) as fh:
                summary = json.load(fh)
        except (OSError, ValueError):
            return {"error": f"driver exited {proc.returncode}: {proc.stderr[-2000:]}"}
        figures = {
            "instances_per_s": summary["instances_per_s"],
            "mb_per_s": summary["mb_per_s"],
            "acknowledged": summary["instances"]["acknowledged"],
            "failed": summary["instances"]["failed"],
            "latency_ms": summary["latency_ms"],
            "association_setup_ms": summary["association_setup_ms"],
            "failures": summary["failures"],
        }
        if proc.returncode != 0:
            figures["error"] = f"driver exited {proc.returncode}"
        return figures
    return send


def storescu_sender(files: storescu_load.SenderFiles):
    """DCMTK storescu processes (TCP_NODELAY=1), one association each; stored = files on disk."""
    def send(server) -> dict:
        busy = procstat.machine_busy_seconds()
        result = storescu_load.send(files, server.port, timeout=600)
        stored = sum(len(names) for _, _, names in os.walk(server.outdir))
        wall = result["wall_s"]
        synced = time.monotonic()
        subprocess.run(["sync", "-f", server.outdir], check=False)
        sync_s = time.monotonic() - synced
        machine_s = procstat.machine_busy_seconds() - busy
        figures = {"instances_per_s": stored / wall, "mb_per_s": stored * files.bytes_per_instance / wall / 1e6,
                   "acknowledged": stored, "failed": result["sent"] - stored, "latency_ms": {},
                   "sync_s": sync_s, "on_disk_instances_per_s": stored / (wall + sync_s) if stored else None,
                   "machine_cpu_ms_per_instance": machine_s / stored * 1e3 if stored else None}
        if result["errors"] or stored != result["sent"]:
            figures["error"] = f"{stored}/{result['sent']} stored; " + "; ".join(result["errors"])[:300]
        return figures
    return send


def _spread(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def aggregate(cells: list[dict], servers: list[str], loads: list[str]) -> dict:
    """Medians per (load, server) and the cluster's ratio to the best DCMTK server."""
    table: dict[str, dict[str, dict]] = {}
    for load in loads:
        row = table.setdefault(load, {})
        for server in servers:
            mine = [c for c in cells if c["load"] == load and c["server"] == server]
            good = [c for c in mine if "instances_per_s" in c]
            if not mine:
                continue
            row[server] = {
                "instances_per_s": _spread([c["instances_per_s"] for c in good]),
                "mb_per_s": _spread([c["mb_per_s"] for c in good]),
                "p50_ms": _spread([c["latency_ms"].get("p50") for c in good]),
                "p99_ms": _spread([c["latency_ms"].get("p99") for c in good]),
                "server_cpu_ms_per_instance": _spread(
                    [c["server_cpu_ms_per_instance"] for c in good]),
                "on_disk_instances_per_s": _spread([c.get("on_disk_instances_per_s") for c in good]),
                "machine_cpu_ms_per_instance": _spread([c.get("machine_cpu_ms_per_instance") for c in good]),
                "peak_rss_total_mib": max((c["memory"]["peak_total_mib"] for c in good),
                                          default=None),
                "peak_rss_process_mib": max((c["memory"]["peak_process_mib"] for c in good),
                                            default=None),
                "errors": [c["error"] for c in mine if c.get("error")],
            }
        for figure, ratio in (("instances_per_s", "ratio_to_best_dcmtk"),
                              ("on_disk_instances_per_s", "on_disk_ratio_to_best_dcmtk")):
            _ratios(row, figure, ratio)
    return table


def _ratios(row: dict, figure: str, ratio: str) -> None:
    """Each project row's ``figure`` over the best DCMTK server's, as ``ratio``."""
    dcmtk = {server: stats[figure]["median"] for server, stats in row.items()
             if _is_dcmtk(server) and stats[figure]}
    if not dcmtk:
        return
    best = max(dcmtk, key=dcmtk.get)
    for server, ours in row.items():
        if server.startswith(PROJECT) and ours[figure]:
            ours[ratio] = ours[figure]["median"] / dcmtk[best]
            ours["best_dcmtk" if figure == "instances_per_s" else "on_disk_best_dcmtk"] = best


def format_table(table: dict) -> str:
    head = (f"{'load':<6} {'server':<31} {'inst/s median (min-max)':<26} {'MB/s':>8} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'CPU ms/inst':>11} {'RSS MiB tot/proc':>17} "
            f"{'ratio':>6} {'on disk/s':>9} {'ratio':>6} {'machine ms/inst':>15}")
    lines = [head, "-" * len(head)]
    for load, row in table.items():
        for server, s in row.items():
            ips = s["instances_per_s"]
            if ips is None:
                lines.append(f"{load:<6} {server:<31} failed: {'; '.join(s['errors'])[:80]}")
                continue
            spread = f"{ips['median']:.1f} ({ips['min']:.1f}-{ips['max']:.1f})"
            cpu = s["server_cpu_ms_per_instance"]
            ratio = s.get("ratio_to_best_dcmtk")
            p50, p99 = (f"{s[key]['median']:>8.2f}" if s[key] else f"{'-':>8}" for key in ("p50_ms", "p99_ms"))
            lines.append(
                f"{load:<6} {server:<31} {spread:<26} {s['mb_per_s']['median']:>8.1f} "
                f"{p50} {p99} "
                f"{(cpu['median'] if cpu else float('nan')):>11.3f} "
                f"{s['peak_rss_total_mib']:>8.0f}/{s['peak_rss_process_mib']:<8.0f} "
                f"{(f'{ratio:.2f}x' if ratio else ''):>6} "
                + _on_disk_columns(s)
                + (f"  ({len(s['errors'])} failed)" if s["errors"] else ""))
    return "\n".join(lines)


def _on_disk_columns(s: dict) -> str:
    """'on disk/s', its ratio and 'machine ms/inst' (blank for the driver, which does not measure them)."""
    def median(key: str, form: str) -> str:
        spread = s.get(key)
        return format(spread["median"], form) if spread else "-"

    ratio = s.get("on_disk_ratio_to_best_dcmtk")
    return (f"{median('on_disk_instances_per_s', '.1f'):>9} {(f'{ratio:.2f}x' if ratio else ''):>6} "
            f"{median('machine_cpu_ms_per_instance', '.3f'):>15}")


def plot_table(table: dict, path: str) -> None:
    """One bar group per load: median instances/s with min-max whiskers."""
    from .plot import _pyplot

    plt = _pyplot()
    loads = list(table)
    fig, axes = plt.subplots(1, len(loads), figsize=(4 * len(loads), 4), squeeze=False)
    for ax, load in zip(axes[0], loads, strict=True):
        names, med, lo, hi = [], [], [], []
        for server, s in table[load].items():
            ips = s["instances_per_s"]
            if ips is None:
                continue
            names.append(server)
            med.append(ips["median"])
            lo.append(ips["median"] - ips["min"])
            hi.append(ips["max"] - ips["median"])
        colors = ["tab:green" if n.startswith(PROJECT) else "tab:gray" for n in names]
        ax.bar(range(len(names)), med, yerr=[lo, hi], color=colors, capsize=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.set_title(load)
        ax.set_ylabel("instances/s (median, min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dcmrecv_cluster.loadtest.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 repetition, small loads (smoke test)")
    parser.add_argument("--sender", choices=("storescu", "driver"), default="storescu",
                        help="DCMTK storescu processes with TCP_NODELAY=1, a fixed count per load "
                             "(default), or the bundled driver for --duration (latency percentiles)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell (--sender driver)")
    parser.add_argument("--servers", help="comma-separated names or globs "
                        f"(default: {', '.join(STORESCU_SERVERS)} with storescu, all with the driver)")
    parser.add_argument("--loads", help="comma-separated load names or presets "
                        f"(default: {', '.join(load.name for load in LOADS)})")
    parser.add_argument("--server", action="append", default=[], metavar="NAME=TEMPLATE",
                        help="add or replace a server: command template with {port} {outdir} "
                             "{cfg} {workers}; leading KEY=VALUE words are environment")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="dcmrecv-cluster --workers (default: CPUs)")
    parser.add_argument("--driver-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--filesystem", choices=("journaled", "workdir"), default="journaled",
                        help="output directories on a loop-mounted journaled ext4 made for the run "
                             "(default; root only, else the workdir with a note), or in the workdir")
    parser.add_argument("--workdir", help="where sent files, output directories and the ext4 image go "
                                          "(default: a temp dir)")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--plot", dest="plot_path")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.repetitions, args.duration = 1, 2.0

    templates = dict(DEFAULT_SERVERS)
    for item in args.server:
        name, sep, template = item.partition("=")
        if not sep or not name:
            parser.error(f"--server wants NAME=TEMPLATE, got {item!r}")
        templates[name] = template
    wanted = args.servers or (",".join(STORESCU_SERVERS) if args.sender == "storescu" else None)
    server_names = _pick(list(templates), wanted)
    load_by_name = {load.name: load for load in LOADS}
    load_names = _pick(list(load_by_name), args.loads,
                       alias=lambda n: (load_by_name[n].preset,))
    if args.quick:
        load_by_name = {name: replace(load, per_sender=max(1, load.per_sender // 10))
                        for name, load in load_by_name.items()}
    if args.plot_path:
        from .plot import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
    if args.sender == "storescu" and not os.access(storescu_load.STORESCU, os.X_OK):
        print(f"bench: {storescu_load.STORESCU} not found (Debian package dcmtk); "
              "or use --sender driver", file=sys.stderr)
        return 2
    specs = []
    skipped = {}
    for name in server_names:
        spec = ServerSpec(name, templates[name])
        if spec.available():
            specs.append(spec)
        elif name.startswith(PROJECT):
            # The project's own benchmark without the project measures nothing worth reporting.
            print(f"bench: cannot find the project's server {PROJECT!r} (template {spec.template!r}); "
                  f"install the project into {sys.prefix} (make deps) or name it with --server", file=sys.stderr)
            return 2
        else:
            skipped[name] = "command not found"
            print(f"bench: skipping {name}: command not found", file=sys.stderr)
    if not specs:
        print("bench: no server to run", file=sys.stderr)
        return 2

    workdir = args.workdir or tempfile.mkdtemp(prefix="dcmrecv-bench-")
    os.makedirs(workdir, exist_ok=True)
    started = time.time()
    try:
        with _output_filesystem(args.filesystem, workdir) as outroot:
            filesystem = scratchfs.describe(outroot)
            print(f"bench: output directories on {filesystem}", file=sys.stderr)
            cells, broken = _run_cells(args, specs, [load_by_name[n] for n in load_names], workdir, outroot)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    names = [s.name for s in specs if s.name not in broken or
             any(c["server"] == s.name for c in cells)]
    table = aggregate(cells, names, load_names)
    sender = ("DCMTK storescu, TCP_NODELAY=1, one association per process, a fixed count per load"
              if args.sender == "storescu" else
              f"dcmrecv-cluster-loadtest for {args.duration:g} s per cell (TCP_NODELAY on its side)")
    print(f"one run on {os.cpu_count()} CPUs, {args.repetitions} repetition(s) per cell, servers alternated; "
          f"sender: {sender}; output on {filesystem}; '+nodelay' = server run with TCP_NODELAY=1; "
          "ratio = inst/s over the best DCMTK server of the load; "
          "'on disk/s' counts the sending plus a sync of the output (sync -f) after it, "
          "'machine ms/inst' all CPUs' busy time over both (senders and kernel included)")
    print(format_table(table))
    for name, why in {**skipped, **broken}.items():
        print(f"skipped {name}: {why.splitlines()[0] if why else ''}")
    result = {"settings": {"repetitions": args.repetitions, "duration_s": args.duration,
                           "sender": args.sender, "filesystem": filesystem,
                           "workers": args.workers, "cpus": os.cpu_count(),
                           "servers": {s.name: s.template for s in specs},
                           "loads": [vars(load_by_name[n]) for n in load_names],
                           "started": started},
              "skipped": {**skipped, **broken}, "table": table, "cells": cells}
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(result, fh, indent=1)
    if args.plot_path:
        plot_table(table, args.plot_path)
    failed = any(c.get("error") for c in cells) or not cells
    return 1 if failed else 0


@contextmanager
def _output_filesystem(choice: str, workdir: str):
    if choice == "journaled":
        why_not = scratchfs.can_mount()
        if why_not is None:
            with scratchfs.journaled_ext4(workdir) as mountpoint:
                yield mountpoint
            return
        print(f"bench: NOTE: {why_not}; measuring in the workdir instead, whose filesystem may "
              "favour or penalise some servers (see loadtest/scratchfs.py)", file=sys.stderr)
    yield workdir


def _run_cells(args, specs: list[ServerSpec], loads: list[Load], workdir: str, outroot: str):
    cells: list[dict] = []
    broken: dict[str, str] = {}
    senders = {}
    for load in loads:
        if args.sender == "driver":
            senders[load.name] = driver_sender(load, args.duration, args.driver_processes)
            continue
        print(f"bench: writing {load.associations} x {load.per_sender} {load.preset} files to send",
              file=sys.stderr, flush=True)
        files = storescu_load.write_files(synthetic.build(synthetic.PRESETS[load.preset]), load.associations,
                                          load.per_sender, os.path.join(workdir, f"send-{load.name}"))
        senders[load.name] = storescu_sender(files)
    for rep in range(args.repetitions):
        order = specs[rep % len(specs):] + specs[:rep % len(specs)]
        for load in loads:
            for spec in order:
                if spec.name in broken:
                    continue
                try:
                    cell = run_cell(spec, load, outroot, args.workers, senders[load.name])
                except ServerError as exc:
                    broken[spec.name] = str(exc)
                    print(f"bench: {spec.name} failed to start, skipped: {exc}", file=sys.stderr)
                    continue
                cell["repetition"] = rep
                cells.append(cell)
                ips = cell.get("instances_per_s")
                print(f"bench: rep {rep + 1}/{args.repetitions} {load.name:<5} {spec.name:<31} "
                      + (f"{ips:8.1f} inst/s" if ips is not None else "")
                      + (f"  {cell['error']}" if cell.get("error") else ""),
                      file=sys.stderr, flush=True)
    return cells, broken


if __name__ == "__main__":
    sys.exit(main())
