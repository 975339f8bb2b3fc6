"""The prepared-data cache: every record read, checked and preprocessed once, then memory-mapped.

Layout of a finished cache folder ``<cache_root>/<kind>-<key>/``::

    x.npy          float32 (N, cache_len, n_leads)  time-major, band-passed mV, zero-padded
    valid_len.npy  int32   (N,)                     samples of x that are signal, not padding
    y.npy          bool    (N, C)                   multi-hot labels in ``classes`` order
    demo.npy       float32 (N, 5)                   demographics vectors (preprocess.demographics_vector)
    folds.npy      int16   (N,)                     official folds (only where the data has them)
    names.json     record names, row order
    manifest.json  spec, key, fs, leads, classes, counts, preprocessing config, version, …
    problems.json  records that were skipped, and why

The key hashes the source spec, a cheap fingerprint of its listing (names, sizes and
modification times of the files), the :class:`PreprocessConfig` and the
:class:`LabelConfig`; any change gives a new folder.  A cache is built in a temporary
folder and renamed into place only when complete, so a killed run never leaves a half
cache that a later run would reuse.

Reading and preprocessing run in parallel worker processes (:func:`map_records`).  The
parent preallocates ``x`` with ``np.lib.format.open_memmap`` and each worker writes its
records' rows straight into that shared file with positioned writes (only labels, lengths
and demographics travel back), so the signals never pass through a pipe, never have to fit
in memory at once, and never count in a process's resident memory.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import math
import multiprocessing
import os
import pickle
import shutil
import sys
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from lrh_tflm import __version__
from lrh_tflm.config import LabelConfig, PreprocessConfig
from lrh_tflm.data.labels import ClassSpace, all_codes_space, scored_space
from lrh_tflm.data.preprocess import (
    demographics_vector,
    fit_length,
    prepare_signal,
    prepare_signals,
)
from lrh_tflm.data.record import (
    DatasetError,
    DataSource,
    ProblemLog,
    Record,
    RecordError,
    RecordRef,
)
from lrh_tflm.io import config_hash, read_json, write_json_atomic

#: Bumped whenever the folder layout or the preprocessing code changes meaning.
CACHE_FORMAT = 2  # 2: flat leads among live ones kept as zeros; warnings in problems.json
#: Upper bound on records per task sent to a worker process.
_MAX_CHUNK = 64
#: Fewer records than this are processed in-process when workers would have to be spawned.
_MIN_SPAWN_RECORDS = 512
#: Rows copied at a time when compacting the signal array.
_COPY_ROWS = 256


# --------------------------------------------------------------------------- parallel reading

#: Set only inside worker processes, by the pool's initializer (the one way a
#: ProcessPoolExecutor hands per-process state to its tasks); the parent never touches it.
_WORKER: dict = {}


def _init_worker(source: DataSource, fn: Callable) -> None:
    # The source and the per-record function are sent once per worker process, not per chunk.
    _WORKER["source"] = source
    _WORKER["fn"] = fn


def _run_one(source: DataSource, fn: Callable, ref: RecordRef, index: int):
    try:
        return True, fn(source, ref, index)
    except RecordError as err:
        return False, (err.record, err.reason)
    except (OSError, ValueError, EOFError) as err:
        # A reader should turn these into RecordError; if one slips through, the record is
        # still reported (never a traceback for a broken file) rather than killing the run.
        return False, (ref.name, f"unreadable: {err}")


def _run_chunk(items: Sequence[tuple[int, RecordRef]]) -> list[tuple[int, bool, object]]:
    source, fn = _WORKER["source"], _WORKER["fn"]
    batch = getattr(fn, "batch", None)
    if callable(batch):
        return batch(source, items)
    return [(i, *_run_one(source, fn, ref, i)) for i, ref in items]


def _mp_context():
    # fork is fastest, but forking a process that has started TensorFlow's thread pools can
    # deadlock; once TensorFlow is loaded (e.g. inside `build`), start clean workers instead.
    method = "spawn" if "tensorflow" in sys.modules else "fork"
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    return multiprocessing.get_context(method)


def default_workers() -> int:
    """Worker processes used when none are given: one per CPU core."""
    return max(1, os.cpu_count() or 1)


def map_records(source: DataSource, refs: Sequence[RecordRef], fn: Callable, *,
                workers: int | None = None, progress: bool = True,
                desc: str = "records") -> Iterator[tuple[int, bool, object]]:
    """Apply ``fn(source, ref, index)`` to every ref, in parallel worker processes.

    Parameters
    ----------
    source
        The data source (must be picklable when ``workers > 1``).
    refs
        Records to process.
    fn
        A picklable callable ``fn(source, ref, index) -> result`` (``index`` is the ref's
        position in ``refs``); it raises :class:`RecordError` for a problem with that record.
        If it also has ``fn.batch(source, [(index, ref), …])`` returning the same
        ``(index, ok, result)`` triples, worker processes hand it their whole chunk.
    workers
        Worker processes (``None``: one per core; ``1``: in this process).
    progress
        Show a tqdm bar on stderr.
    desc
        Label of the bar.

    Yields
    ------
    (int, bool, object)
        ``(index into refs, ok, result)``; when ``ok`` is false, ``result`` is
        ``(record, reason)``.  Results arrive in completion order.
    """
    n = len(refs)
    workers = default_workers() if workers is None else max(1, int(workers))
    chunk = max(1, min(_MAX_CHUNK, math.ceil(n / (workers * 4)))) if n else 1
    items = list(enumerate(refs))
    bar = tqdm(total=n, desc=desc, unit="rec", disable=not progress, file=sys.stderr,
               leave=False)
    try:
        ctx = _mp_context()
        # Spawned workers re-import the package (and the caller's main module), which costs
        # seconds; for a few hundred records one process is faster.
        if workers == 1 or n <= chunk or (ctx.get_start_method() == "spawn"
                                          and n < _MIN_SPAWN_RECORDS):
            for i, ref in items:
                yield (i, *_run_one(source, fn, ref, i))
                bar.update(1)
            return
        pool = ProcessPoolExecutor(max_workers=min(workers, math.ceil(n / chunk)),
                                   mp_context=ctx, initializer=_init_worker,
                                   initargs=(source, fn))
        try:
            pending = {pool.submit(_run_chunk, items[s:s + chunk]) for s in range(0, n, chunk)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    results = fut.result()
                    for res in results:
                        yield res
                    bar.update(len(results))
        finally:
            # Strict mode (or Ctrl-C) stops consuming early: drop the queued work.
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


# --------------------------------------------------------------------------- prepared data

@dataclass(frozen=True, eq=False)
class PreparedData:
    """A prepared dataset, as loaded from its cache folder (``x`` is memory-mapped).

    Attributes
    ----------
    x
        float32 ``(N, cache_len, n_leads)``, time-major, band-passed mV, zero-padded at the end.
    valid_len
        int32 ``(N,)``: samples of each row that are signal (the rest is padding).
    y
        bool ``(N, C)`` multi-hot labels in ``classes`` order.
    demo
        float32 ``(N, 5)`` demographics vectors.
    names
        Record names in row order.
    folds
        int16 ``(N,)`` official folds (PTB-XL ``strat_fold``), or ``None`` when the data has none.
    classes
        The label space (classes with too few positives already dropped).
    pre
        The preprocessing configuration the cache was built with.
    path
        The cache folder.
    manifest
        The parsed ``manifest.json``.
    """

    x: np.ndarray
    valid_len: np.ndarray
    y: np.ndarray
    demo: np.ndarray
    names: tuple[str, ...]
    folds: np.ndarray | None
    classes: ClassSpace
    pre: PreprocessConfig
    path: Path
    manifest: dict

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def leads(self) -> tuple[str, ...]:
        """Lead names of ``x``'s last axis (canonical order)."""
        return tuple(self.pre.leads)


def preprocess_config_from_dict(d: dict) -> PreprocessConfig:
    """Rebuild a :class:`PreprocessConfig` from its JSON form (lists back to tuples)."""
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return PreprocessConfig(**kw)


def load_prepared(path: Path) -> PreparedData:
    """Load a finished cache folder; ``x`` is memory-mapped read-only.

    Raises
    ------
    DatasetError
        If ``path`` is not a complete prepared-data folder.
    """
    path = Path(path)
    needed = ("manifest.json", "x.npy", "valid_len.npy", "y.npy", "demo.npy", "names.json")
    missing = [f for f in needed if not (path / f).is_file()]
    if missing:
        raise DatasetError(f"{path} is not a prepared-data folder (missing {', '.join(missing)})")
    manifest = read_json(path / "manifest.json")
    x = np.load(path / "x.npy", mmap_mode="r")
    folds_path = path / "folds.npy"
    prepared = PreparedData(
        x=x,
        valid_len=np.load(path / "valid_len.npy"),
        y=np.load(path / "y.npy"),
        demo=np.load(path / "demo.npy"),
        names=tuple(read_json(path / "names.json")),
        folds=np.load(folds_path) if folds_path.is_file() else None,
        classes=ClassSpace.from_dict(manifest["classes"]),
        pre=preprocess_config_from_dict(manifest["preprocess"]),
        path=path,
        manifest=manifest,
    )
    n = len(prepared)
    if not (len(prepared.valid_len) == len(prepared.y) == len(prepared.demo)
            == len(prepared.names) == n):
        raise DatasetError(f"{path}: arrays of different lengths; delete the folder and prepare again")
    return prepared


def listing_fingerprint(refs: Sequence[RecordRef]) -> str:
    """Cheap hash of a listing: names, paths, metadata, sizes and mtimes of the record files.

    Stats each ref's file and, for WFDB headers, the signal files beside it (``.mat``,
    ``.dat``); contents are not read, so a listing of 40 000 records hashes in about a second.
    """
    # A cached re-run of PTB-XL (21,799 records) spent more time here than in loading the
    # cache, so: strings instead of Path objects, one directory listing per folder instead
    # of a failing stat per absent signal file, the file facts as one int64 array, and the
    # names, paths and metadata as one memo-free pickle (its bytes depend only on the
    # values) instead of a repr per record.
    entries: dict[str, set[str] | None] = {}
    texts: list[str] = []
    facts: list[tuple[int, int, int, int]] = []  # (ref, which candidate, size, mtime_ns)
    for i, ref in enumerate(refs):
        text = str(ref.path if isinstance(ref.path, PurePath) else Path(ref.path))
        texts.append(text)
        folder, sep, name = text.rpartition(os.sep)
        folder = (folder or os.sep) if sep else "."
        candidates = [name]
        if name.lower().endswith(".hea") and len(name) > 4:
            # Upper-case signal files last, so the usual records hash as they always did.
            candidates += [name[:-4] + ".mat", name[:-4] + ".dat", name[:-4] + ".MAT",
                           name[:-4] + ".DAT"]
        if folder not in entries:
            try:
                entries[folder] = set(os.listdir(folder))
            except OSError:
                entries[folder] = None  # unlistable: stat each candidate instead
        present = entries[folder]
        prefix = folder + os.sep if folder != os.sep else os.sep
        for k, candidate in enumerate(candidates):
            if present is not None and candidate not in present:
                continue
            try:
                st = os.stat(prefix + candidate)
            except OSError:
                continue
            facts.append((i, k, st.st_size, st.st_mtime_ns))
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=4)
    pickler.fast = True  # no memo: equal values give equal bytes, however objects are shared
    pickler.dump([(ref.name, text, ref.meta) for ref, text in zip(refs, texts)])
    h = hashlib.sha256(buf.getvalue())
    h.update(np.asarray(facts, dtype=np.int64).reshape(-1, 4).tobytes())
    return h.hexdigest()


def cache_key(source: DataSource, refs: Sequence[RecordRef], pre: PreprocessConfig,
              labels: LabelConfig) -> str:
    """The cache folder key: hash of spec, listing fingerprint and both configs."""
    return config_hash({"format": CACHE_FORMAT, "spec": source.spec, "kind": source.kind,
                        "listing": listing_fingerprint(refs), "preprocess": pre,
                        "labels": labels})


def _npy_layout(fh) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of the open ``.npy`` file ``fh`` (C order only)."""
    version = np.lib.format.read_magic(fh)
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, fortran, dtype = read(fh)
    if fortran:
        raise ValueError("expected a C-order array")
    return tuple(shape), dtype, fh.tell()


class _RowWriter:
    """Writes whole rows of a preallocated ``.npy`` file with plain positioned writes.

    Not a memory map: pages a process writes through a map stay in its resident set, so each
    worker of a 21,799-record PTB-XL prepare grew to about a gigabyte; written with
    ``write`` they are only in the page cache.
    """

    def __init__(self, path: Path):
        self.fh = open(path, "r+b", buffering=0)
        self.shape, self.dtype, self.offset = _npy_layout(self.fh)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __setitem__(self, index: int, row: np.ndarray) -> None:
        data = np.ascontiguousarray(row, dtype=self.dtype)
        if data.shape != self.shape[1:]:
            raise ValueError(f"row of shape {data.shape}, file rows are {self.shape[1:]}")
        self.fh.seek(self.offset + int(index) * self.row_bytes)
        view = memoryview(data).cast("B")
        while view:  # a raw write may be partial
            view = view[self.fh.write(view):]

    def close(self) -> None:
        self.fh.close()


@dataclass(frozen=True)
class _PrepareOne:
    """Per-record work of :func:`prepare` (a picklable callable for worker processes).

    The preprocessed signal is written straight into row ``index`` of the shared file
    ``out`` (:class:`_RowWriter`): shipping 60 KB per record back through a pipe to the
    parent cost more than the preprocessing itself.  Only the small per-record facts are
    returned.  The file is opened on first use, once per process that runs the object (a
    worker gets its own copy through the pool's initializer), and closed by :meth:`close`
    or with the process.
    """

    pre: PreprocessConfig
    out: Path

    @functools.cached_property
    def _writer(self) -> _RowWriter:
        return _RowWriter(self.out)

    def __getstate__(self) -> dict:
        # An open writer never travels to another process; the copy opens its own.
        return {k: v for k, v in self.__dict__.items() if k != "_writer"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def close(self) -> None:
        """Close this process's writer, if it opened one."""
        writer = self.__dict__.pop("_writer", None)
        if writer is not None:
            writer.close()

    def __call__(self, source: DataSource, ref: RecordRef, index: int):
        rec = source.read(ref)
        notes: list[tuple[str, ...]] = []
        signal = prepare_signal(rec, self.pre, notes)
        return self._store(rec, signal, index, notes[0])

    def batch(self, source: DataSource, items: Sequence[tuple[int, RecordRef]]
              ) -> list[tuple[int, bool, object]]:
        """A worker's chunk at once (:func:`~lrh_tflm.data.preprocess.prepare_signals`):
        the same rows and results as calling the object per record, in less time."""
        results: list[tuple[int, bool, object]] = []
        read: list[tuple[int, RecordRef, Record]] = []
        for i, ref in items:
            ok, rec = _run_one(source, _read_only, ref, i)
            if ok:
                read.append((i, ref, rec))
            else:
                results.append((i, False, rec))
        notes: list[tuple[str, ...]] = []
        try:
            signals = prepare_signals([rec for _, _, rec in read], self.pre, notes)
        except (OSError, ValueError, EOFError):
            # Something no check caught: one record at a time, so only its own fails.
            return results + [(i, *_run_one(source, self, ref, i)) for i, ref, _ in read]
        for (i, _, rec), signal, note in zip(read, signals, notes):
            if isinstance(signal, RecordError):
                results.append((i, False, (signal.record, signal.reason)))
            else:
                results.append((i, True, self._store(rec, signal, i, note)))
        return results

    def _store(self, rec: Record, signal: np.ndarray, index: int, notes: tuple[str, ...]):
        x, n = fit_length(signal, self.pre.cache_len)
        self._writer[index] = x
        return n, tuple(rec.labels), demographics_vector(rec.age, rec.sex), rec.fold, notes


def _read_only(source: DataSource, ref: RecordRef, index: int) -> Record:
    return source.read(ref)


def compact_rows(path: Path, keep: np.ndarray) -> None:
    """Keep only rows ``keep`` (ascending indices) of the ``.npy`` file at ``path``, in place.

    Rows move towards the start with ordinary file reads and writes in blocks of
    :data:`_COPY_ROWS` rows (the page cache holds them, not this process), then the header
    gets the new shape and the file is truncated.  A header that cannot be rewritten in
    the same number of bytes falls back to writing a compact copy.
    """
    path = Path(path)
    keep = np.asarray(keep, dtype=np.int64)
    with open(path, "r+b") as fh:
        if keep.size and (np.diff(keep) <= 0).any():
            raise ValueError("compact_rows needs ascending row indices")
        shape, dtype, offset = _npy_layout(fh)
        fh.seek(0)
        write_header = {(1, 0): np.lib.format.write_array_header_1_0,
                        (2, 0): np.lib.format.write_array_header_2_0}[
            np.lib.format.read_magic(fh)]
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        header = io.BytesIO()
        new_shape = (int(keep.size),) + tuple(shape[1:])
        write_header(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                              "fortran_order": False, "shape": new_shape})
        if len(header.getvalue()) != offset:
            fh.close()
            _compact_copy(path, keep, shape, dtype)
            return
        # Runs of consecutive kept rows move as blocks; destinations never pass their sources.
        dest = 0
        starts = np.flatnonzero(np.diff(keep, prepend=-2) != 1)
        for a, b in zip(starts, list(starts[1:]) + [keep.size]):
            first, count = int(keep[a]), int(b - a)
            if first != dest:
                for done in range(0, count, _COPY_ROWS):
                    rows = min(_COPY_ROWS, count - done)
                    fh.seek(offset + (first + done) * row_bytes)
                    block = fh.read(rows * row_bytes)
                    fh.seek(offset + (dest + done) * row_bytes)
                    fh.write(block)
            dest += count
        fh.seek(0)
        fh.write(header.getvalue())
        fh.truncate(offset + keep.size * row_bytes)


def _compact_copy(path: Path, keep: np.ndarray, shape, dtype) -> None:
    src = np.load(path, mmap_mode="r")
    tmp = path.with_name(path.name + ".compact")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(keep.size,) + shape[1:])
    for s in range(0, keep.size, _COPY_ROWS):
        out[s:s + _COPY_ROWS] = src[keep[s:s + _COPY_ROWS]]
    out.flush()
    del out, src
    os.replace(tmp, path)


def _label_space(source: DataSource, cfg: LabelConfig, codes_seen: set[str]) -> ClassSpace:
    # Sources with their own label vocabulary (PTB-XL) offer ``class_space(name, codes_seen)``.
    own = getattr(source, "class_space", None)
    if callable(own):
        space = own(cfg.space, codes_seen)
        if space is not None:
            return space
    if cfg.space == "scored":
        return scored_space()
    if cfg.space == "all":
        return all_codes_space(codes_seen)
    raise DatasetError(f"label space {cfg.space!r} is not available for {source.spec} "
                       f"(use 'scored' or 'all')")


def _first_problems(problems: ProblemLog, limit: int = 3) -> str:
    return "; ".join(str(p) for p in list(problems)[:limit])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _remove_dead_temps(root: Path, prefix: str) -> None:
    """Delete temporary folders of this cache key left by processes that no longer run."""
    for path in root.glob(prefix + "*"):
        pid = path.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def prepare(source: DataSource, pre: PreprocessConfig, classes_cfg: LabelConfig,
            cache_root: Path, *, problems: ProblemLog, workers: int | None = None,
            progress: bool = True) -> PreparedData:
    """Read, check and preprocess every record of ``source`` once, into a reusable cache.

    Parameters
    ----------
    source
        Where the records come from (``lrh_tflm.data.sources.open_source``).  A source that
        offers ``for_label_space(space)`` (PTB-XL) is first asked for its records labelled in
        ``classes_cfg.space``.
    pre
        Preprocessing (rate, band-pass, cache length, leads).
    classes_cfg
        Label space and the minimum number of positives a class needs to be kept.
    cache_root
        Folder holding cache folders; this one goes to ``cache_root / f"{kind}-{key}"``.
    problems
        Receives every skipped record (listing and per-record problems); in strict mode the
        first problem raises :class:`RecordError`.  On reuse, the saved problems are replayed.
    workers
        Worker processes (``None``: one per core).
    progress
        Show a progress bar on stderr.

    Returns
    -------
    PreparedData
        The memory-mapped prepared data.

    Raises
    ------
    DatasetError
        No records, nothing readable, or no record with a label of the chosen space.
    RecordError
        In strict mode, for the first problem.
    """
    cache_root = Path(cache_root)
    # A source with several label vocabularies (PTB-XL) labels its records for the label
    # space asked for, unless its spec already fixed one.
    relabel = getattr(source, "for_label_space", None)
    if callable(relabel):
        source = relabel(classes_cfg.space)
    refs = list(source.refs())
    key = cache_key(source, refs, pre, classes_cfg)
    final = cache_root / f"{source.kind}-{key}"
    if (final / "manifest.json").is_file():
        if (final / "problems.json").is_file():
            saved = read_json(final / "problems.json")
            for p in saved.get("problems", []):
                problems.add(p["record"], p["reason"])
            for p in saved.get("warnings", []):
                problems.warn(p["record"], p["reason"])
        return load_prepared(final)

    problems.extend(source.listing_problems())
    if not refs:
        detail = f" ({_first_problems(problems)})" if len(problems) else ""
        raise DatasetError(f"no records found in {source.spec}{detail}")

    cache_root.mkdir(parents=True, exist_ok=True)
    _remove_dead_temps(cache_root, f".tmp-{source.kind}-{key}-")
    tmp = cache_root / f".tmp-{source.kind}-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _build(source, refs, pre, classes_cfg, key, tmp, problems, workers, progress)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process finished the same cache first; theirs is equally good.
            if not (final / "manifest.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_prepared(final)


def _build(source: DataSource, refs: list[RecordRef], pre: PreprocessConfig,
           classes_cfg: LabelConfig, key: str, tmp: Path, problems: ProblemLog,
           workers: int | None, progress: bool) -> None:
    n, n_leads = len(refs), len(pre.leads)
    x = np.lib.format.open_memmap(tmp / "x_all.npy", mode="w+", dtype=np.float32,
                                  shape=(n, pre.cache_len, n_leads))
    valid = np.zeros(n, dtype=np.int32)
    demo = np.zeros((n, 5), dtype=np.float32)
    folds = np.full(n, -1, dtype=np.int16)
    ok = np.zeros(n, dtype=bool)
    labels: list[tuple[str, ...]] = [()] * n
    failed: list[tuple[int, tuple[str, str]]] = []
    warnings: list[tuple[int, str, tuple[str, ...]]] = []

    x.flush()
    prepare_one = _PrepareOne(pre, tmp / "x_all.npy")
    try:
        for i, good, res in map_records(source, refs, prepare_one,
                                        workers=workers, progress=progress, desc="prepare"):
            if not good:
                failed.append((i, res))
                if problems.strict:
                    problems.add(*res)
                continue
            vi, li, di, fi, notes = res
            valid[i], labels[i], demo[i], ok[i] = vi, li, di, True
            if fi is not None:
                folds[i] = int(fi)
            if notes:
                warnings.append((i, refs[i].name, notes))
        # Parallel results arrive in completion order; report problems in listing order.
        for _, res in sorted(failed):
            problems.add(*res)
        for _, name, notes in sorted(warnings):
            problems.warn_all(name, notes)
    finally:
        # The in-process (serial) path opened its own writer on the file; close it.
        prepare_one.close()

    keep = np.flatnonzero(ok)
    if keep.size == 0:
        raise DatasetError(f"no readable records in {source.spec}: {n} skipped, first problems: "
                           f"{_first_problems(problems)}")

    # Rows of skipped records are removed in place (one skipped record among 21,799 used to
    # copy the whole array through this process's memory map: twice its size in resident
    # memory, and twice the disk).
    x.flush()
    del x
    if keep.size < n:
        compact_rows(tmp / "x_all.npy", keep)
    os.replace(tmp / "x_all.npy", tmp / "x.npy")

    labels_kept = [labels[i] for i in keep]
    codes_seen = {c for ls in labels_kept for c in ls}
    space = _label_space(source, classes_cfg, codes_seen)
    y_full = np.stack([space.encode(ls) for ls in labels_kept]) if len(space) else \
        np.zeros((keep.size, 0), dtype=bool)
    counts = y_full.sum(axis=0)
    kept_cls = np.flatnonzero(counts >= max(1, classes_cfg.min_count))
    kept_set = set(kept_cls.tolist())
    dropped = [{"class": space.classes[j], "abbreviation": space.abbreviations[j],
                "count": int(counts[j])} for j in range(len(space)) if j not in kept_set]
    space_kept = space.subset(kept_cls)
    y = y_full[:, kept_cls]
    if y.shape[1] == 0 or not y.any():
        raise DatasetError(
            f"no labels in {source.spec}: none of the {keep.size} readable records has a class "
            f"of the {classes_cfg.space!r} label space with at least "
            f"{max(1, classes_cfg.min_count)} positive record(s)")

    names = [refs[i].name for i in keep]
    np.save(tmp / "valid_len.npy", valid[keep])
    np.save(tmp / "y.npy", y)
    np.save(tmp / "demo.npy", demo[keep])
    fold_kept = folds[keep]
    has_folds = bool((fold_kept >= 0).all())
    if has_folds:
        np.save(tmp / "folds.npy", fold_kept)
    write_json_atomic(tmp / "names.json", names)
    problems_here = ProblemLog(warnings=list(problems.warnings))
    problems_here.extend(list(problems))
    problems_here.save(tmp / "problems.json")
    manifest = {
        "spec": source.spec,
        "kind": source.kind,
        "key": key,
        "format": CACHE_FORMAT,
        "n_records": int(keep.size),
        "n_listed": n,
        "n_skipped": n - int(keep.size),
        "n_warnings": len(problems.warnings),
        "fs": pre.fs,
        "cache_len": pre.cache_len,
        "leads": list(pre.leads),
        "classes": space_kept.to_dict(),
        "class_counts": {c: int(v) for c, v in zip(space_kept.classes, y.sum(axis=0))},
        "records_without_class": int((~y.any(axis=1)).sum()),
        "label_config": asdict(classes_cfg),
        "dropped_classes": dropped,
        "preprocess": asdict(pre),
        "folds": sorted({int(f) for f in fold_kept}) if has_folds else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    # The manifest is written last: its presence marks a complete folder.
    write_json_atomic(tmp / "manifest.json", manifest)


__all__ = ["CACHE_FORMAT", "PreparedData", "prepare", "load_prepared", "map_records",
           "cache_key", "listing_fingerprint", "default_workers", "preprocess_config_from_dict"]
