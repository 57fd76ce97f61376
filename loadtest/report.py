"""Turn a merged Tally into the summary dict (the --json contents) and its text form."""

from __future__ import annotations

import bisect

from .dimse import describe_status
from .tally import Tally

MB = 1e6
# log-spaced latency bin edges, 0.05 ms .. ~100 s, 8 per decade
HIST_EDGES_MS = [0.05 * 10 ** (i / 8) for i in range(0, 8 * 6 + 3)]


def histogram(values) -> dict:
    """Counts of `values` (seconds) in HIST_EDGES_MS bins; the last bin is open."""
    counts = [0] * len(HIST_EDGES_MS)
    for v in values:
        counts[max(0, bisect.bisect_right(HIST_EDGES_MS, v * 1e3) - 1)] += 1
    while counts and counts[-1] == 0:
        counts.pop()
    first = next((i for i, c in enumerate(counts) if c), len(counts))
    return {"edges_ms": HIST_EDGES_MS[first:len(counts) + 1], "counts": counts[first:]}


def percentiles(values, points=(50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles plus min/mean/max, in milliseconds."""
    data = sorted(values)
    if not data:
        return {"count": 0}
    out = {"count": len(data), "min": data[0] * 1e3, "mean": sum(data) / len(data) * 1e3}
    for p in points:
        rank = max(1, -(-p * len(data) // 100))  # ceil(p/100 * n)
        out[f"p{p}"] = data[rank - 1] * 1e3
    out["max"] = data[-1] * 1e3
    return out


def summarise(tally: Tally, t0: float, t_end: float, settings: dict,
              cpu: dict | None = None) -> dict:
    """All figures of one run; `settings` records what was asked for."""
    end = tally.last if tally.last > t0 else t_end
    elapsed = max(end - t0, 1e-9)
    acknowledged = tally.ok + tally.warnings
    strict = not settings.get("allow_warnings", False)
    unsuccessful = tally.failed + tally.not_sent + (tally.warnings if strict else 0)
    n_assoc_errors = sum(tally.assoc_errors.values())
    last_sec = max(tally.series) if tally.series else -1
    series = []
    for sec in range(0, last_sec + 1):
        ok, nbytes, failed = tally.series.get(sec, (0, 0, 0))
        series.append({"t": sec, "instances": ok, "mb": nbytes / MB, "failed": failed})
    summary = {
        "settings": settings,
        "elapsed_s": elapsed,
        "instances": {
            "acknowledged": acknowledged,
            "success": tally.ok,
            "warning": tally.warnings,
            "failed": tally.failed,
            "not_sent": tally.not_sent,
        },
        "mb": tally.bytes_ok / MB,
        "instances_per_s": acknowledged / elapsed,
        "mb_per_s": tally.bytes_ok / MB / elapsed,
        "latency_ms": percentiles(tally.latency),
        "latency_histogram": histogram(tally.latency),
        "association_setup_ms": percentiles(tally.assoc_setup),
        "associations": {"accepted": tally.associations,
                         "pending_at_end": tally.gave_up,
                         "failed": n_assoc_errors},
        "failures": {
            "dimse_status": {describe_status(int(k, 16)): v
                             for k, v in sorted(tally.statuses.items())},
            "instance": dict(tally.instance_errors),
            "association": dict(tally.assoc_errors),
        },
        "retry": {"resent": tally.retried, "recovered": tally.recovered,
                  "resent_after_duration": tally.resent_after_duration,
                  "association_failures": dict(tally.retried_errors)},
        "series": series,
    }
    if cpu is not None:
        cpu = dict(cpu)
        total = cpu.get("user_s", 0.0) + cpu.get("system_s", 0.0)
        cpu["per_instance_ms"] = total / acknowledged * 1e3 if acknowledged else None
        summary["driver_cpu"] = cpu
    ok = unsuccessful == 0 and n_assoc_errors == 0 and acknowledged > 0
    summary["success"] = ok
    summary["exit_code"] = 0 if ok else 1
    return summary


def _ms(stats: dict) -> str:
    if not stats.get("count"):
        return "n/a"
    return (f"p50 {stats['p50']:.2f}  p95 {stats['p95']:.2f}  p99 {stats['p99']:.2f}  "
            f"max {stats['max']:.2f} ms  (n={stats['count']})")


def format_summary(s: dict) -> str:
    inst = s["instances"]
    lines = [
        f"instances   {inst['acknowledged']} acknowledged ({inst['success']} success, "
        f"{inst['warning']} warning), {inst['failed']} failed, {inst['not_sent']} not sent",
        f"elapsed     {s['elapsed_s']:.2f} s",
        f"throughput  {s['instances_per_s']:.1f} instances/s, {s['mb_per_s']:.1f} MB/s "
        f"({s['mb']:.1f} MB)",
        f"C-STORE     {_ms(s['latency_ms'])}",
        f"association {_ms(s['association_setup_ms'])}",
        f"            {s['associations']['accepted']} accepted, "
        f"{s['associations']['failed']} failed, "
        f"{s['associations']['pending_at_end']} still pending at the end",
    ]
    retry = s.get("retry") or {}
    if retry.get("resent") or retry.get("association_failures"):
        lines.append(f"retry       {retry['resent']} instance(s) re-sent after an association failure, "
                     f"{retry['recovered']} of them acknowledged then (failed, then retried)")
        if retry.get("resent_after_duration"):
            lines.append(f"retry       {retry['resent_after_duration']} re-send(s) finished after -t ended "
                         f"(pending retries run to completion, bounded by --retry and the timeouts)")
        for what, n in sorted(retry["association_failures"].items(), key=lambda kv: -kv[1]):
            lines.append(f"retried     association: {what}: {n}")
    cpu = s.get("driver_cpu")
    if cpu and cpu.get("per_instance_ms") is not None:
        lines.append(f"driver CPU  {cpu['user_s'] + cpu['system_s']:.2f} s "
                     f"({cpu['per_instance_ms']:.3f} ms/instance)")
    fails = s["failures"]
    for title, key in (("DIMSE status", "dimse_status"), ("instance", "instance"),
                       ("association", "association")):
        for what, n in sorted(fails[key].items(), key=lambda kv: -kv[1]):
            lines.append(f"failure     {title}: {what}: {n}")
    lines.append("result      " + ("OK" if s["success"] else "FAILED"))
    return "\n".join(lines)
