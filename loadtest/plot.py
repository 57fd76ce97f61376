"""PNG of one run: throughput per second and the C-STORE latency distribution.

matplotlib is optional (extra `bench`) and imported only when a plot is asked for.
"""

from __future__ import annotations

import sys


class PlotUnavailable(RuntimeError):
    """matplotlib is missing; the message says how to install it into this interpreter."""


def require_matplotlib() -> None:
    """Fail before any traffic is sent, not after the run, when a plot cannot be drawn."""
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError as exc:
        raise PlotUnavailable(
            f"--plot needs matplotlib, which {sys.executable} cannot import: install it with "
            f"`{sys.executable} -m pip install matplotlib` (in a clone: `make bench` or "
            f"`pip install -e '.[bench]'`), or leave out --plot") from exc


def _pyplot():
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(summary: dict, path: str) -> None:
    """Throughput over time (instances/s and MB/s) and latency percentiles."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    series = summary["series"]
    t = [row["t"] for row in series]
    ax1.bar(t, [row["instances"] for row in series], width=0.9, align="edge",
            color="tab:blue", label="instances/s")
    ax1.set_xlabel("second of the run (the last one may be partial)")
    ax1.set_ylabel("instances/s")
    ax1b = ax1.twinx()
    ax1b.plot([x + 0.45 for x in t], [row["mb"] for row in series], color="tab:orange",
              marker="o", label="MB/s")
    ax1b.set_ylabel("MB/s")
    ax1b.set_ylim(bottom=0)
    failed = [row["failed"] for row in series]
    if any(failed):
        ax1.bar(t, failed, width=0.9, align="edge", color="tab:red", label="failed")
    handles = ax1.get_legend_handles_labels()
    more = ax1b.get_legend_handles_labels()
    ax1.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="lower left")
    ax1.set_title("throughput")
    hist = summary.get("latency_histogram") or {}
    counts, edges = hist.get("counts", []), hist.get("edges_ms", [])
    if counts:
        widths = [(edges[i + 1] if i + 1 < len(edges) else edges[i] * 1.33) - edges[i]
                  for i in range(len(counts))]
        ax2.bar(edges[:len(counts)], counts, width=widths, align="edge")
        ax2.set_xscale("log")
        from matplotlib.ticker import NullFormatter

        ax2.xaxis.set_minor_formatter(NullFormatter())
        ax2.set_xlabel("C-STORE round trip (ms)")
        ax2.set_ylabel("instances")
        lat = summary["latency_ms"]
        for name, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
            ax2.axvline(lat[name], color="black", linestyle=style, label=f"{name} {lat[name]:.1f} ms")
        ax2.legend(fontsize=8)
    ax2.set_title("C-STORE round-trip latency")
    settings = summary.get("settings", {})
    fig.suptitle(f"{settings.get('host', '')}:{settings.get('port', '')}  "
                 f"{summary['instances_per_s']:.0f} inst/s, {summary['mb_per_s']:.1f} MB/s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
