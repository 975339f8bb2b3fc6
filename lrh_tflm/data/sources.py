"""Turning a data spec string into a :class:`~lrh_tflm.data.record.DataSource`.

Spec strings:

* ``challenge:DIR`` — a PhysioNet/CinC 2020/2021 folder (searched recursively);
* ``ptbxl:DIR`` — PTB-XL in its native layout; options ``ptbxl:DIR?labels=rhythm&rate=100``
  choose the label set (:data:`~lrh_tflm.data.ptbxl.PTBXL_LABEL_SETS`) and the sampling rate;
* ``csv:FILE`` — a CSV list ``path,labels[,age,sex,fold]``;
* ``synthetic`` — the built-in synthetic Challenge-format set, generated once into the cache;
* a bare path, auto-detected: a folder holding ``ptbxl_database.csv`` is PTB-XL, a ``.csv`` file
  is a list, a folder with ``.hea`` files anywhere below is a Challenge folder.

Every spec takes ``?require_labels=0`` (read records without labels).  A source's ``spec`` is
canonical (absolute path; non-default options appended as
``?key=value``) so that the same data opened twice gets the same prepared-data cache, and
different options never share one.
"""
from __future__ import annotations

from pathlib import Path

from lrh_tflm.config import SynthConfig
from lrh_tflm.data.challenge import ChallengeSource
from lrh_tflm.data.csvlist import CsvListSource
from lrh_tflm.data.ptbxl import PTBXL_LABEL_SETS, PTBXLSource, is_label_set, parse_options
from lrh_tflm.data.record import DatasetError, DataSource

#: Spec prefixes and what they read.
PREFIXES: dict[str, str] = {
    "challenge": "PhysioNet/CinC Challenge folder (.hea + .mat/.dat)",
    "ptbxl": "PTB-XL folder (ptbxl_database.csv, records100/, records500/)",
    "csv": "CSV list path,labels[,age,sex,fold]",
}
SYNTHETIC = "synthetic"


#: What a model trained on each kind of data must say about that data (model cards, the
#: generated firmware files' banners).  PTB-XL's licence (CC BY 4.0) requires attribution.
ATTRIBUTIONS: dict[str, str] = {
    "ptbxl": ("PTB-XL 1.0.3 (Wagner et al., Scientific Data 7:154, 2020, "
              "doi:10.1038/s41597-020-0495-6; PhysioNet), CC BY 4.0"),
    "synthetic": "the lrh-tflm synthetic default (generated ECGs, no clinical content)",
    "challenge": "PhysioNet/CinC Challenge 2020/2021 records (see each source database's licence)",
    "csv": "a user-supplied record list",
}


def data_attribution(spec: str | None) -> str:
    """The training-data attribution for a data spec (:data:`ATTRIBUTIONS` by its prefix)."""
    kind = str(spec or "").partition(":")[0]
    return ATTRIBUTIONS.get(kind, f"data {spec!r}")


def _canonical_spec(kind: str, path: Path, options: dict[str, object]) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{kind}:{path}" + (f"?{query}" if query else "")


#: Options a spec may carry after ``?``, per reader.
_OPTIONS: dict[str, tuple[str, ...]] = {"challenge": ("require_labels",), "csv": ("require_labels",),
                                        "ptbxl": ("labels", "rate", "require_labels")}


def _split_options(text: str) -> tuple[str, dict[str, str]]:
    """``"ptbxl:DIR?labels=rhythm"`` → ``("ptbxl:DIR", {"labels": "rhythm"})``.

    A ``?`` that is part of an existing path is left alone.
    """
    body, sep, query = text.rpartition("?")
    if not sep or Path(text.partition(":")[2] or text).expanduser().exists():
        return text, {}
    try:
        pairs = parse_options(query)
    except ValueError as err:
        raise DatasetError(f"cannot read the options {query!r} of data spec {text!r} ({err}); "
                           f"write them as ?key=value&key=value") from None
    options = dict(pairs)
    if len(options) != len(pairs):
        raise DatasetError(f"data spec {text!r} repeats an option")
    return body, options


def _check_options(kind: str, options: dict[str, str], text: str) -> None:
    unknown = sorted(set(options) - set(_OPTIONS[kind]))
    if unknown:
        raise DatasetError(f"data spec {text!r}: unknown option(s) {', '.join(unknown)} for "
                           f"{kind} data (known: {', '.join(_OPTIONS[kind])})")


def _flag(options: dict[str, str], key: str, default: bool, text: str) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if value.strip().lower() in ("1", "true", "yes"):
        return True
    if value.strip().lower() in ("0", "false", "no"):
        return False
    raise DatasetError(f"data spec {text!r}: {key}={value} is not 0 or 1")


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
                require_labels: bool = True, ptbxl_labels: str | None = None,
                ptbxl_rate: int = 500, progress: bool = True) -> DataSource:
    """Open the records a spec string names.

    Parameters
    ----------
    spec
        ``challenge:DIR``, ``ptbxl:DIR``, ``csv:FILE``, ``synthetic`` or a bare path, with
        optional ``?key=value`` options (``labels``, ``rate`` for PTB-XL; ``require_labels``);
        options in the spec win over the keyword arguments below.
    cache_dir
        Cache folder; needed for ``synthetic`` (the generated set lives there).
    synth
        Synthetic-set configuration (default: :class:`~lrh_tflm.config.SynthConfig()`).
    require_labels
        Records without labels are errors (training); ``False`` reads them with ``labels=()``.
    ptbxl_labels
        PTB-XL label set (a key of :data:`~lrh_tflm.data.ptbxl.PTBXL_LABEL_SETS`); ``None``:
        chosen by the label space of the build (:meth:`~lrh_tflm.data.ptbxl.PTBXLSource.for_label_space`),
        ``"superdiagnostic"`` until then.
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

    text, spec_options = _split_options(text)
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

    _check_options(kind, spec_options, str(spec))
    require_labels = _flag(spec_options, "require_labels", require_labels, str(spec))
    options: dict[str, object] = {} if require_labels else {"require_labels": 0}
    if kind == "challenge":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder; a Challenge dataset is a folder of .hea files")
        return ChallengeSource(path, require_labels=require_labels,
                               spec=_canonical_spec(kind, path, options))
    if kind == "ptbxl":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder; PTB-XL is the folder with ptbxl_database.csv")
        labels = spec_options.get("labels", ptbxl_labels)
        if "labels" in spec_options and not is_label_set(labels):
            raise DatasetError(f"data spec {spec!r}: unknown PTB-XL label set {labels!r}; choose "
                               f"one of {', '.join(PTBXL_LABEL_SETS)}, or several joined by '+'")
        rate = spec_options.get("rate", ptbxl_rate)
        if "rate" in spec_options:
            if rate.strip() not in ("100", "500"):
                raise DatasetError(f"data spec {spec!r}: PTB-XL has 100 and 500 Hz records, "
                                   f"not rate={rate}")
            rate = int(rate)
        source = PTBXLSource(path, labels=labels, rate=rate, require_labels=require_labels)
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
