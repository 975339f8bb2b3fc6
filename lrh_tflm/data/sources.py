"""Turning a data spec string into a :class:`~lrh_tflm.data.record.DataSource`.

Spec strings:

* ``challenge:DIR`` — a PhysioNet/CinC 2020/2021 folder (searched recursively);
* ``ptbxl:DIR`` — PTB-XL in its native layout;
* ``csv:FILE`` — a CSV list ``path,labels[,age,sex,fold]``;
* ``synthetic`` — the built-in synthetic Challenge-format set, generated once into the cache;
* a bare path, auto-detected: a folder holding ``ptbxl_database.csv`` is PTB-XL, a ``.csv`` file
  is a list, a folder with ``.hea`` files anywhere below is a Challenge folder.

A source's ``spec`` is canonical (absolute path; non-default options appended as
``?key=value``) so that the same data opened twice gets the same prepared-data cache, and
different options never share one.
"""
from __future__ import annotations

from pathlib import Path

from lrh_tflm.config import SynthConfig
from lrh_tflm.data.challenge import ChallengeSource
from lrh_tflm.data.csvlist import CsvListSource
from lrh_tflm.data.ptbxl import PTBXLSource
from lrh_tflm.data.record import DataSource, DatasetError

#: Spec prefixes and what they read.
PREFIXES: dict[str, str] = {
    "challenge": "PhysioNet/CinC Challenge folder (.hea + .mat/.dat)",
    "ptbxl": "PTB-XL folder (ptbxl_database.csv, records100/, records500/)",
    "csv": "CSV list path,labels[,age,sex,fold]",
}
SYNTHETIC = "synthetic"


def _canonical_spec(kind: str, path: Path, options: dict[str, object]) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{kind}:{path}" + (f"?{query}" if query else "")


def _detect(path: Path) -> str:
    """The reader for a bare path, by what it contains."""
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "csv"
        raise DatasetError(f"cannot tell how to read {path}: give a Challenge or PTB-XL folder, a "
                           f".csv record list, or a spec such as challenge:DIR")
    if (path / "ptbxl_database.csv").is_file():
        return "ptbxl"
    if next(path.rglob("*.hea"), None) is not None:
        return "challenge"
    raise DatasetError(f"no records found in {path} (no .hea headers, no ptbxl_database.csv)")


def open_source(spec: str, *, cache_dir: Path | None = None, synth: SynthConfig | None = None,
                require_labels: bool = True, ptbxl_labels: str = "superdiagnostic",
                ptbxl_rate: int = 500, progress: bool = True) -> DataSource:
    """Open the records a spec string names.

    Parameters
    ----------
    spec
        ``challenge:DIR``, ``ptbxl:DIR``, ``csv:FILE``, ``synthetic`` or a bare path.
    cache_dir
        Cache folder; needed for ``synthetic`` (the generated set lives there).
    synth
        Synthetic-set configuration (default: :class:`~lrh_tflm.config.SynthConfig()`).
    require_labels
        Records without labels are errors (training); ``False`` reads them with ``labels=()``.
    ptbxl_labels
        PTB-XL label set: ``"superdiagnostic"`` or ``"rhythm"``.
    ptbxl_rate
        PTB-XL sampling rate, 500 or 100 Hz (falls back to the other when only it exists).
    progress
        Show a progress bar if the synthetic set has to be generated.

    Returns
    -------
    DataSource

    Raises
    ------
    DatasetError
        Unknown prefix, missing path, nothing recognisable in the folder, no records.
    ValueError
        Unknown PTB-XL label set or rate.
    """
    text = str(spec).strip()
    if not text:
        raise DatasetError("empty data spec; give a folder, a .csv list or 'synthetic'")
    if text == SYNTHETIC:
        if cache_dir is None:
            raise DatasetError("the synthetic dataset needs a cache folder to be generated in")
        # Imported here: generating is heavy and most runs read an existing folder.
        from lrh_tflm.data.synthetic import ensure_dataset

        folder = ensure_dataset(Path(cache_dir), synth or SynthConfig(), progress=progress)
        options = {} if require_labels else {"require_labels": 0}
        return ChallengeSource(folder, require_labels=require_labels,
                               spec=_canonical_spec(SYNTHETIC, Path(folder).resolve(), options))

    prefix, sep, rest = text.partition(":")
    if sep and prefix in PREFIXES:
        kind, path = prefix, Path(rest).expanduser()
        if not rest.strip():
            raise DatasetError(f"{text!r}: give a path after '{prefix}:'")
        if not path.exists():
            raise DatasetError(f"{text!r}: {path} does not exist")
    else:
        path = Path(text).expanduser()
        if not path.exists():
            if sep and len(prefix) > 1:
                raise DatasetError(f"unknown data spec prefix {prefix!r} in {text!r}; use one of "
                                   f"{', '.join(p + ':' for p in PREFIXES)} or {SYNTHETIC!r}")
            raise DatasetError(f"{path} does not exist (data spec {text!r})")
        kind = _detect(path)
    path = path.resolve()

    options: dict[str, object] = {} if require_labels else {"require_labels": 0}
    if kind == "challenge":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder; a Challenge dataset is a folder of .hea files")
        return ChallengeSource(path, require_labels=require_labels,
                               spec=_canonical_spec(kind, path, options))
    if kind == "ptbxl":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder; PTB-XL is the folder with ptbxl_database.csv")
        source = PTBXLSource(path, labels=ptbxl_labels, rate=ptbxl_rate,
                             require_labels=require_labels)
        # The rate actually used (after fallback) and the label set name the records' content.
        source.spec = _canonical_spec(kind, path, {"labels": source.label_set,
                                                   "rate": source.rate, **options})
        return source
    if not path.is_file():
        raise DatasetError(f"{path} is not a file; csv: expects a .csv record list")
    return CsvListSource(path, require_labels=require_labels, spec=_canonical_spec(kind, path, options))


def describe_source(source: DataSource) -> str:
    """One line saying what a source is: kind, where, how many records, options, problems."""
    n = len(source.refs())
    problems = len(source.listing_problems())
    kind = source.kind
    if str(source.spec).startswith(SYNTHETIC + ":"):
        what = f"synthetic Challenge-format set in {source.root}"
    elif kind == "ptbxl":
        what = (f"PTB-XL in {source.root} ({getattr(source, 'label_set', '?')} labels, "
                f"{getattr(source, 'rate', '?')} Hz)")
    elif kind == "csv":
        what = f"CSV list {getattr(source, 'csv_path', source.root)}"
    else:
        what = f"Challenge folder {source.root}"
    line = f"{what}: {n} record{'s' if n != 1 else ''}"
    if problems:
        line += f", {problems} listing problem{'s' if problems != 1 else ''}"
    if getattr(source, "require_labels", True) is False:
        line += ", labels not required"
    return line


__all__ = ["PREFIXES", "SYNTHETIC", "open_source", "describe_source"]
