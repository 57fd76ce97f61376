"""`dcmrecv-cluster-loadtest`: drive any Storage SCP with C-STOREs and measure it."""

from __future__ import annotations

import json
import os
import sys

import click

from .files import scan
from .runner import RunConfig, run
from .scu import Target
from .synthetic import PRESETS, build, shape_from_options
from .worker import TlsOptions


def _specs(directory, preset, sop_class, rows, columns, frames, bits, ts):
    if directory:
        if preset or any(v is not None for v in (sop_class, rows, columns, frames, bits, ts)):
            raise click.UsageError("--dir cannot be combined with synthetic options")
        specs, skipped = scan(directory)
        for path in skipped:
            click.echo(f"W: skipping {path}: not a DICOM Part 10 file", err=True)
        if not specs:
            raise click.UsageError(f"no DICOM files found under {directory}")
        return specs, {"source": "directory", "directory": directory, "files": len(specs)}
    try:
        shape = shape_from_options(preset, sop_class_uid=sop_class, rows=rows, columns=columns,
                                   frames=frames, bits=bits, transfer_syntax=ts)
        spec = build(shape)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    return [spec], {"source": "synthetic", "preset": preset, "sop_class": shape.sop_class_uid,
                    "rows": shape.rows, "columns": shape.columns, "frames": shape.frames,
                    "bits": shape.bits, "transfer_syntax": shape.transfer_syntax,
                    "instance_bytes": spec.size}


@click.command(context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 100})
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@click.option("-aec", "--called-aet", default="ANY-SCP", show_default=True,
              help="Called AE title.")
@click.option("-aet", "--calling-aet", default="LOADTEST", show_default=True,
              help="Calling AE title.")
@click.option("--tls", "use_tls", is_flag=True, help="Connect with TLS.")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False),
              help="Client certificate (PEM); implies --tls.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False),
              help="Client private key (PEM).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA certificates to verify the server with; implies --tls.")
@click.option("--no-verify", is_flag=True, help="Do not verify the server certificate.")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False),
              help="Send the DICOM files under this directory (as stored, cycled).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)),
              help="Synthetic load: mr (~130 KiB), ct (~520 KiB), big (64 MiB multiframe).")
@click.option("--sop-class", help="Synthetic SOP class (UID or keyword, e.g. CTImageStorage).")
@click.option("--rows", type=click.IntRange(1, 65535))
@click.option("--columns", type=click.IntRange(1, 65535))
@click.option("--frames", type=click.IntRange(1))
@click.option("--bits", type=click.Choice(["8", "16"]), help="Bits allocated per pixel.")
@click.option("--ts", help="Synthetic transfer syntax: implicit (default), explicit, or a UID.")
@click.option("-n", "--count", type=click.IntRange(1),
              help="Instances to send in all (default: each file once, or 100 synthetic).")
@click.option("-t", "--duration", type=click.FloatRange(0, min_open=True),
              help="Send for this many seconds (with --count: whichever ends first).")
@click.option("-a", "--associations", type=click.IntRange(1, 9999), default=1,
              show_default=True, help="Associations at once.")
@click.option("-j", "--processes", type=click.IntRange(1, 999),
              help="Worker processes the associations are spread over [default: min(associations, CPUs)].")
@click.option("--per-association", type=click.IntRange(0), default=0, show_default=True,
              help="Instances per association, then release and associate again (0: no limit; "
                   "1: one association per instance).")
@click.option("--rate", type=click.FloatRange(0, min_open=True),
              help="Limit to this many instances/s in all.")
@click.option("--max-pdu", type=click.IntRange(4096, 131072), default=16384, show_default=True,
              help="Our max receive PDU length.")
@click.option("--connect-timeout", type=click.FloatRange(0, min_open=True), default=30.0,
              show_default=True)
@click.option("--acse-timeout", type=click.FloatRange(0, min_open=True), default=120.0,
              show_default=True, help="Wait this long for the A-ASSOCIATE-AC (a serial SCP "
                                      "keeps extra associations in its backlog).")
@click.option("--dimse-timeout", type=click.FloatRange(0, min_open=True), default=120.0,
              show_default=True, help="Wait this long for each C-STORE-RSP.")
@click.option("--source-address", help="Bind this local address before connecting.")
@click.option("--retry", type=click.IntRange(0), default=0, show_default=True,
              help="Re-send an instance up to N times when its association failed before it was "
                   "acknowledged (as a modality does), on a new association; a failed association "
                   "set-up is retried up to N times in a row. Counted apart as retried/recovered.")
@click.option("--allow-warnings", is_flag=True,
              help="Count warning statuses (0xB000...) as success for the exit code.")
@click.option("--progress/--no-progress", default=None,
              help="Progress line on stderr [default: when stderr is a terminal].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write the summary, with the per-second series, as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write throughput over time and the latency distribution as PNG "
                   "(needs matplotlib).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stdout.")
@click.version_option(package_name="dcmrecv-cluster", prog_name="dcmrecv-cluster-loadtest")
def main(host, port, called_aet, calling_aet, use_tls, cert, key, ca_file, no_verify,
         directory, preset, sop_class, rows, columns, frames, bits, ts, count, duration,
         associations, processes, per_association, rate, max_pdu, connect_timeout,
         acse_timeout, dimse_timeout, source_address, retry, allow_warnings, progress, json_path,
         plot_path, quiet):
    """Send C-STOREs to the Storage SCP at HOST PORT and report throughput and latency.

    Exits 0 only when every instance was acknowledged with success.
    """
    if key and not cert:
        raise click.UsageError("--key needs --cert")
    for title in (called_aet, calling_aet):
        if not 0 < len(title) <= 16 or not title.isascii():
            raise click.UsageError(f"AE title must be 1..16 ASCII characters: {title!r}")
    specs, source = _specs(directory, preset, sop_class, rows, columns, frames,
                           int(bits) if bits else None, ts)
    if count is None and duration is None:
        count = len(specs) if directory else 100
    if processes is None:
        processes = min(associations, os.cpu_count() or 1)
    tls = None
    if use_tls or cert or ca_file or no_verify:
        tls = TlsOptions(cert=cert, key=key, ca_file=ca_file, verify=not no_verify)
        try:
            tls.context()  # fail here, not in every worker
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"TLS setup: {exc}") from exc
    if plot_path:
        from .plot import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
    if progress is None:
        progress = sys.stderr.isatty()
    settings = {"host": host, "port": port, "called_aet": called_aet,
                "calling_aet": calling_aet, "tls": tls is not None, "load": source,
                "count": count, "duration": duration, "associations": associations,
                "processes": min(processes, associations), "per_association": per_association,
                "rate": rate, "retry": retry, "allow_warnings": allow_warnings}
    target = Target(host=host, port=port, called_aet=called_aet, calling_aet=calling_aet,
                    source_address=source_address, connect_timeout=connect_timeout,
                    acse_timeout=acse_timeout, dimse_timeout=dimse_timeout, max_pdu=max_pdu)
    cfg = RunConfig(target=target, specs=specs, associations=associations,
                    processes=processes, count=count, duration=duration,
                    per_association=per_association, rate=rate, retry=retry, tls=tls, progress=progress,
                    settings=settings)
    try:
        summary = run(cfg)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    # The results first: nothing that can fail afterwards (the plot) may lose them.
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(summary, fh, indent=1)
    if not quiet:
        click.echo(_headline(settings) + "\n" + _format(summary))
    if plot_path:
        from .plot import plot_run

        try:
            plot_run(summary, plot_path)
        except Exception as exc:  # noqa: BLE001 - reported; the summary above stands
            click.echo(f"E: cannot write the plot {plot_path}: {exc}", err=True)
            sys.exit(summary["exit_code"] or 1)
    sys.exit(summary["exit_code"])


def _headline(settings: dict) -> str:
    load = settings["load"]
    what = (f"{load['files']} files from {load['directory']}" if load["source"] == "directory"
            else f"synthetic {load.get('preset') or load['sop_class']} "
                 f"({load['instance_bytes'] / 1024:.0f} KiB)")
    limit = (f"{settings['count']} instances" if settings["count"] else "") + \
        (f"{' / ' if settings['count'] else ''}{settings['duration']} s"
         if settings["duration"] else "")
    return (f"target      {settings['host']}:{settings['port']} ({settings['called_aet']}), "
            f"{what}, {settings['associations']} association(s) over "
            f"{settings['processes']} process(es), {limit}")


def _format(summary: dict) -> str:
    from .report import format_summary

    return format_summary(summary)


if __name__ == "__main__":  # pragma: no cover
    main()
