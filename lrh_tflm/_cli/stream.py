"""``lrh-tflm stream``: replay a WFDB record into a board over serial (firmware/PROTOCOL.md).

A thin layer over :mod:`lrh_tflm.device.stream`: prints the board's decisions beside the host's for
every window and a final agreement line.  Exit status 1 when the board never answered, sent
fewer windows than due, or the port cannot be opened.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from lrh_tflm._cli.common import user_errors


def _names(mask: int, classes) -> str:
    names = [c for i, c in enumerate(classes) if (mask >> i) & 1]
    return ",".join(names) if names else "-"


@click.command("stream")
@click.argument("record")
@click.option("--port", required=True, help="Serial port of the board (e.g. /dev/ttyACM0, COM3).")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The int8 .tflite the board runs (sidecar <model>.json beside it): "
                                 "the host's decisions are printed beside the board's.")
@click.option("--sidecar", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Sidecar JSON, if not <model>.json.")
@click.option("--runtime", type=click.Choice(["tflm", "litert-ref", "litert"]), default="tflm",
              show_default=True, help="Host runtime for the host's decisions.")
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="1 = real time, 2 = twice as fast, 0 = as fast as the link allows.")
@click.option("--baud", type=click.IntRange(min=1), default=115200, show_default=True)
@click.option("--hop", type=click.IntRange(min=1), default=None,
              help="The board's hop in samples [default: its hello line, else the sidecar's].")
@click.option("--frame-samples", type=click.IntRange(1, 255), default=25, show_default=True,
              help="Samples (rows) per frame.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds of silence from the board before giving up.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines: one per window (board and host), then a summary line.")
@user_errors
def stream(record, port, model_path, sidecar, runtime, speed, baud, hop, frame_samples,
           timeout_s, as_json):
    """Play RECORD (WFDB .hea/.mat or base name) into the board on --port, window by window.

    The record's leads are resampled to the model rate and sent in microvolts as replay
    frames, starting with a reset frame; the board answers one JSON line per window.  With
    --model the host runs the same samples through the same model and the two are compared.
    """
    from lrh_tflm.artifact import read_bundle_sidecar
    from lrh_tflm.device import stream as st
    from lrh_tflm.infer import read_record
    from lrh_tflm.tflite.schema import ModelFormatError

    rec = read_record(record)
    host = None
    meta = {}
    if model_path is not None:
        meta = read_bundle_sidecar(model_path, sidecar)
        try:
            host = st.HostReference(model_path.read_bytes(), meta, runtime=runtime)
        except ModelFormatError as err:
            raise click.ClickException(f"{model_path}: {err}") from None
        except st.StreamError as err:
            raise click.ClickException(str(err)) from None
    elif sidecar is not None:
        raise click.UsageError("--sidecar needs --model")
    model_cfg = None
    if host is None:
        # No model given: play what the repository's firmware build expects (leads, rate).
        from lrh_tflm.config import PreprocessConfig
        from lrh_tflm.device.hostbuild import DeviceSettings, FirmwareError, default_settings_dir

        settings_dir = default_settings_dir()
        try:
            fws = DeviceSettings.from_header(settings_dir)
        except (FirmwareError, OSError) as err:
            raise click.ClickException(f"no --model and no usable firmware settings: {err}") from None
        model_cfg = PreprocessConfig(leads=fws.leads, fs=fws.fs, window=fws.window)
        hop = hop or fws.hop
        if not as_json:
            click.echo(f"no --model: playing leads {', '.join(fws.leads)} at {fws.fs:g} Hz as "
                       f"{settings_dir / 'model_settings.h'} says; board decisions only", err=True)
    hop = hop or (int(meta["hop"]) if isinstance(meta.get("hop"), int) else None)
    cfg = st.StreamConfig(speed=speed, samples_per_frame=frame_samples, timeout_s=timeout_s)

    def live(kind, value):
        # Board errors and unreadable lines as they happen; windows are printed once paired.
        if kind == "error" and not as_json:
            click.echo(f"board error: {value}", err=True)

    try:
        conn = st.open_port(port, baud, write_timeout_s=timeout_s)
        try:
            result = st.stream_record(conn, rec, cfg=cfg, host=host, model_cfg=model_cfg, hop=hop,
                                      on_line=live)
        finally:
            conn.close()
    except st.StreamError as err:
        raise click.ClickException(str(err)) from None
    _print(result, host is not None, as_json)
    s = result.summary()
    if s["missing_windows"]:
        raise SystemExit(1)


def _print(result, with_host: bool, as_json: bool) -> None:
    classes = result.classes
    s = result.summary()
    pairs = {p.start: p for p in result.pairs}
    fs = result.fs
    if as_json:
        for w in result.session.windows:
            row = {"start": w.start, "start_s": round(w.start / fs, 3),
                   "board": {"p": w.probs, "raw": _names(w.raw_mask, classes).split(",") if w.raw_mask else [],
                             "dec": w.dec, "raw_mask": w.raw_mask, "mask": w.mask, "missed": w.missed}}
            p = pairs.get(w.start)
            if p is not None and p.board is w:
                row["host"] = {"p": {c: round(float(v), 3) for c, v in zip(classes, p.host_probs)},
                               "raw_mask": p.host_raw, "mask": p.host_mask}
                row["agree"] = p.raw_agree and p.smoothed_agree
            click.echo(json.dumps(row))
        click.echo(json.dumps({"summary": {**s, "warnings": result.warnings,
                                           "malformed": [m for m in result.session.malformed],
                                           "board_errors": result.session.errors}}))
        return
    click.echo(f"{result.record}: {result.n_samples} samples at {fs:g} Hz "
               f"({result.n_samples / fs:.1f} s), leads {', '.join(result.leads)}, "
               f"{s['frames_sent']} frames sent")
    head = f"{'start_s':>8}  {'board raw':<18} {'board dec':<18}"
    if with_host:
        head += f" {'host raw':<18} {'host dec':<18} {'max|dp|':>7}  agree"
    click.echo(head)
    for w in result.session.windows:
        line = f"{w.start / fs:>8.2f}  {_names(w.raw_mask, classes):<18} {_names(w.mask, classes):<18}"
        p = pairs.get(w.start)
        if with_host and p is not None and p.board is w:
            ok = "yes" if p.raw_agree and p.smoothed_agree else "NO"
            line += (f" {_names(p.host_raw, classes):<18} {_names(p.host_mask, classes):<18} "
                     f"{p.max_dp(classes):>7.3f}  {ok}")
        elif with_host:
            line += "  (no host window at this start)"
        click.echo(line)
    for text in result.warnings:
        click.echo(f"warning: {text}", err=True)
    if result.session.malformed:
        click.echo(f"{len(result.session.malformed)} malformed line(s) from the board:", err=True)
        for text, why in result.session.malformed[:5]:
            click.echo(f"  {why}: {text[:80]!r}", err=True)
    if result.missing:
        click.echo(f"{len(result.missing)} window(s) due but not received from the board "
                   f"(first at {result.missing[0] / fs:.2f} s)", err=True)
    board = (f"board: {s['windows_board']} windows, missed frames {s['missed']}, "
             f"{s['malformed_lines']} malformed line(s), {s['board_errors']} error line(s)")
    if with_host and result.pairs:
        click.echo(f"agreement: {s['agree']}/{s['paired']} windows "
                   f"(raw decisions {s['raw_agree']}/{s['paired']}, smoothed "
                   f"{s['smoothed_agree']}/{s['paired']}), max |dp| {s['max_dp']:.3f}; {board}")
    else:
        click.echo(board)
