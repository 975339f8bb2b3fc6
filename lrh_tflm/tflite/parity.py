"""The parity chain: the int8 model gives the same answers on every runtime it will meet.

The checks, each on every window given:

1. TFLM host runtime == LiteRT reference kernels, bit for bit (the microcontroller runs the
   TFLM kernels; LiteRT-ref is the converter's own arithmetic);
2. LiteRT default kernels (XNNPACK), *op by op*: every kernel within ``max_lsb`` (1) int8
   steps of the reference kernel on identical inputs (the reference's own intermediate
   tensors), on every window (:func:`op_lsb_divergence`);
3. XNNPACK end to end: its decisions agree with the reference's on at least
   ``min_agreement`` of (window, class) pairs;
4. the int8 decisions (dequantise → sigmoid → ≥ threshold) agree with the Keras (QAT) model's
   decisions on at least ``min_agreement`` (99 %) of (window, class) pairs.

Why XNNPACK is held to 1 LSB per kernel and not end to end: XNNPACK requantises in float32,
the reference in fixed point, so a few values per kernel round one step apart, and through a
deep graph these differences compound.  Measured on the default LRH-Net-MCU (34 ops, 239
windows): every kernel within 1 LSB, the logits up to 3 LSB apart (99.46 % of outputs within
1 LSB; 9 LSB before its QAT ranges were calibrated), decisions equal on 99.71 % of (window,
class) pairs.
The end-to-end difference (``max_lsb_xnnpack``, ``xnnpack_within_1lsb``) is reported, not
judged.

Every failing window is listed with its record name, class (or operator) and both values, so
a mismatch can be traced to the record that caused it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime as tflm

from lrh_tflm.io import write_json_atomic
from lrh_tflm.tflite.layout import without_plan
from lrh_tflm.tflite.runtime import (
    Runner,
    make_runner,
    measure_arena,
    quiet_fds,
    shaped_input,
    sigmoid,
)
from lrh_tflm.tflite.schema import (
    ModelFormatError,
    find_inputs,
    io_details,
    is_constant,
    op_name,
    pack_model,
    unpack_model,
)


@dataclass(frozen=True)
class ParityFailure:
    """One (window, class) where a check failed.

    Attributes
    ----------
    check
        ``"tflm-vs-ref"``, ``"xnnpack-op"``, ``"xnnpack-decision"`` or ``"decision"``.
    record
        Record name the window came from.
    window
        Index of the window in the batch given to :func:`parity_chain`.
    cls
        Class name (abbreviation or code); empty for ``"xnnpack-op"``.
    a, b
        The two values compared: raw int8 values (TFLM or XNNPACK, then reference) for the
        runtime checks (for ``"xnnpack-op"`` the operator's output value that differs most);
        probabilities (XNNPACK then reference, or int8 model then Keras) for decisions.
    op
        For ``"xnnpack-op"``: the operator, e.g. ``"CONV_2D (op 5)"``; else ``None``.
    """

    check: str
    record: str
    window: int
    cls: str
    a: float
    b: float
    op: str | None = None

    def __str__(self) -> str:
        where = f"op {self.op}" if self.op else f"class {self.cls}"
        return f"{self.check}: {self.record} window {self.window} {where}: {self.a:g} vs {self.b:g}"


@dataclass
class ParityReport:
    """Outcome of :func:`parity_chain`.

    Attributes
    ----------
    n_windows
        Windows checked.
    exact_tflm_ref
        Share of windows whose TFLM output equals LiteRT-ref exactly (all classes).
    max_lsb_xnnpack
        Largest end-to-end |XNNPACK − reference| in int8 steps over all windows and classes —
        reported, not judged (per-kernel rounding differences compound through the graph);
        ``None`` when XNNPACK cannot prepare the model at all (``xnnpack_error`` says why).
        XNNPACK is a host path only, so that case is reported but does not fail the chain.
    decision_agreement
        Share of (window, class) pairs where int8 and Keras decisions agree (``None`` without
        a Keras model).
    failures
        Every failing (window, class), see :class:`ParityFailure`.
    passed
        All checks within their limits.
    max_lsb_allowed, min_agreement
        The limits applied: ``max_lsb_allowed`` per XNNPACK kernel, ``min_agreement`` to both
        decision checks.
    max_lsb_tflm
        Largest |TFLM − reference| in int8 steps (0 when bit-exact).
    tflm_tolerance_lsb
        The TFLM limit applied (0: bit-exact required).
    divergence
        For the first window where TFLM and the reference differ: the record, window and the
        first operator whose output differs (:func:`first_divergence`).
    xnnpack_error
        Why XNNPACK (or one of its kernels alone) could not run; ``None`` when it ran.
    max_lsb_xnnpack_op
        Largest |XNNPACK − reference| of any single kernel on identical inputs, over all
        operators and windows (the judged XNNPACK number).
    xnnpack_op_worst
        The operator where ``max_lsb_xnnpack_op`` was first met, e.g. ``"CONV_2D (op 0)"``.
    xnnpack_within_1lsb
        Share of end-to-end (window, class) outputs with |XNNPACK − reference| ≤ 1.
    xnnpack_decision_agreement
        Share of (window, class) pairs where XNNPACK's and the reference's decisions agree.
    xnnpack_ops
        Per operator in execution order: ``op_index``, ``op_name``, ``max_lsb``,
        ``mismatched`` / ``size`` (values that differ / values compared, all windows) and the
        ``worst_record`` and ``worst_window``.
    """

    n_windows: int
    exact_tflm_ref: float
    max_lsb_xnnpack: int | None
    decision_agreement: float | None
    failures: list[ParityFailure] = field(default_factory=list)
    passed: bool = False
    max_lsb_allowed: int = 1
    min_agreement: float = 0.99
    max_lsb_tflm: int = 0
    tflm_tolerance_lsb: int = 0
    divergence: dict | None = None
    xnnpack_error: str | None = None
    max_lsb_xnnpack_op: int | None = None
    xnnpack_op_worst: str | None = None
    xnnpack_within_1lsb: float | None = None
    xnnpack_decision_agreement: float | None = None
    xnnpack_ops: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the numbers of every check and the verdict."""
        agree = ("n/a (no Keras model)" if self.decision_agreement is None
                 else f"{100 * self.decision_agreement:.2f} %")
        op = self.max_lsb_xnnpack_op
        if self.max_lsb_xnnpack is None:
            xnn = "XNNPACK cannot run the model"
        else:
            if op is None:
                judged = "XNNPACK kernels not checked op by op (cannot run alone)"
            elif op <= self.max_lsb_allowed:
                judged = f"XNNPACK kernels ≤ {self.max_lsb_allowed} LSB op by op (max {op}"
            else:
                judged = (f"XNNPACK kernels up to {op} LSB op by op at {self.xnnpack_op_worst} "
                          f"(limit {self.max_lsb_allowed}")
            xnn = (f"{judged}{', ' if op is not None else ' ('}end to end max "
                   f"{self.max_lsb_xnnpack} LSB, {100 * self.xnnpack_within_1lsb:.1f} % within "
                   f"1 LSB, decisions agree {100 * self.xnnpack_decision_agreement:.2f} %)")
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} failing window-class pairs)"
        where = ""
        if self.divergence and self.divergence.get("op_name"):
            where = f" (max {self.max_lsb_tflm} LSB, first at {self.divergence['op_name']})"
        return (f"parity on {self.n_windows} windows: TFLM == LiteRT-ref on "
                f"{100 * self.exact_tflm_ref:.2f} %{where}, {xnn}, int8 vs Keras decisions "
                f"agree {agree} — {verdict}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary()
        return d

    def save(self, path: Path) -> None:
        """Write the report as JSON, atomically."""
        write_json_atomic(Path(path), self.to_dict())


def keras_logits(keras_model, windows: np.ndarray, demo: np.ndarray | None,
                 batch_size: int = 64) -> np.ndarray:
    """Float logits ``(n, C)`` of a Keras model with inputs ``ecg`` (and ``demo``)."""
    names = [t.name.split(":")[0] for t in keras_model.inputs]
    feeds = []
    for name in names:
        if "demo" in name:
            if demo is None:
                raise ValueError("the Keras model has a demographics input; pass demo")
            feeds.append(np.asarray(demo, np.float32))
        else:
            feeds.append(np.asarray(windows, np.float32))
    x = feeds if len(feeds) > 1 else feeds[0]
    return np.asarray(keras_model.predict(x, batch_size=batch_size, verbose=0), np.float64)


def parity_chain(tflite_int8: bytes, windows: np.ndarray, demo: np.ndarray | None,
                 names: Sequence[str], *, thresholds: Sequence[float], classes: Sequence[str],
                 keras_model=None, max_lsb: int = 1, min_agreement: float = 0.99,
                 tflm_tolerance_lsb: int = 0, arena_size: int | None = None,
                 runners: Mapping[str, Runner] | None = None) -> ParityReport:
    """Check the int8 model on TFLM, LiteRT-ref and LiteRT-XNNPACK, and against Keras.

    See the module docstring for the checks.  The XNNPACK kernel check runs every operator
    on its own for every window (a one-op model per operator, built once); it costs about
    one more reference pass plus one XNNPACK pass over the windows (measured: 2.9 s for 239
    windows of the default 1024-sample student on one core).

    Parameters
    ----------
    tflite_int8
        The full-int8 flatbuffer.
    windows
        Float (normalised) windows ``(n, 1, W, L)``; quantised with the model's input scale.
    demo
        Float demographics ``(n, 5)``, or ``None`` for an ECG-only model.
    names
        Record name of every window (length ``n``), used in failure reports.
    thresholds
        Decision threshold per class on the sigmoid probability.
    classes
        Class names for reports (abbreviations or codes), one per output.
    keras_model
        The float/QAT Keras model whose decisions the int8 model must reproduce; ``None``
        skips the decision check.
    max_lsb
        Allowed |XNNPACK − reference| of each kernel on identical inputs (not end to end).
    min_agreement
        Least share of (window, class) pairs whose decisions must agree: XNNPACK with the
        reference, and the int8 model with Keras.
    tflm_tolerance_lsb
        Allowed |TFLM − reference|; 0 (default) demands bit-exact outputs.  Differences are
        always listed as failures and counted in ``exact_tflm_ref`` whatever the tolerance.
    arena_size
        TFLM arena; ``None`` measures it.
    runners
        Pre-built runners by runtime name (``"tflm"``, ``"litert-ref"``, ``"litert"``), e.g.
        to reuse loaded interpreters; missing ones are built here.  (The per-kernel XNNPACK
        check always loads its own one-op interpreters from ``tflite_int8``.)

    Returns
    -------
    ParityReport
    """
    windows = np.asarray(windows, np.float32)
    n = len(windows)
    names = list(names)
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} windows")
    if n == 0:
        raise ValueError("no windows to check parity on")
    thresholds = np.asarray(thresholds, np.float64)
    classes = [str(c) for c in classes]

    runners = dict(runners or {})
    xnnpack_error = None
    for rt in ("litert-ref", "tflm", "litert"):
        if rt not in runners:
            try:
                runners[rt] = make_runner(tflite_int8, rt, arena_size=arena_size)
            except ModelFormatError as err:
                if rt != "litert":
                    raise
                xnnpack_error = str(err)
    ref_runner = runners["litert-ref"]
    n_classes = int(np.prod(ref_runner.output.shape))
    if len(classes) != n_classes or len(thresholds) != n_classes:
        raise ValueError(f"model has {n_classes} outputs but {len(classes)} classes and "
                         f"{len(thresholds)} thresholds were given")
    if ref_runner.demo is not None and demo is None:
        raise ValueError("the model has a demographics input; pass demo")

    outs = {rt: np.empty((n, n_classes), dtype=np.int64) for rt in runners}
    for i in range(n):
        for rt, runner in runners.items():
            ecg_q = runner.quantize_ecg(windows[i])
            demo_q = None if runner.demo is None else runner.quantize_demo(demo[i])
            outs[rt][i] = np.asarray(runner.run(ecg_q, demo_q)).reshape(-1)

    failures: list[ParityFailure] = []
    ref, tflm = outs["litert-ref"], outs["tflm"]
    xnn = outs.get("litert", ref)
    for i, c in zip(*np.nonzero(tflm != ref)):
        failures.append(ParityFailure("tflm-vs-ref", names[i], int(i), classes[c],
                                      float(tflm[i, c]), float(ref[i, c])))
    lsb = np.abs(xnn - ref)
    exact = float(np.mean(np.all(tflm == ref, axis=1)))
    max_lsb_tflm = int(np.abs(tflm - ref).max())
    divergence = None
    if max_lsb_tflm:
        i = int(np.nonzero(np.any(tflm != ref, axis=1))[0][0])
        r = runners["tflm"]
        where = first_divergence(tflite_int8, r.quantize_ecg(windows[i]),
                                 None if r.demo is None else r.quantize_demo(demo[i]))
        divergence = {"record": names[i], "window": i, **(where or {})}
    max_lsb_seen = int(lsb.max()) if xnnpack_error is None else None

    p_int8 = sigmoid(ref_runner.dequantize_output(ref))
    xnn_op = xnn_agreement = within_1 = None
    if "litert" in runners:
        xnn_op = _xnnpack_kernels(tflite_int8, ref_runner, windows, demo, names, max_lsb)
        if "error" in xnn_op:
            xnnpack_error, xnn_op = xnn_op["error"], None
        else:
            failures += xnn_op["failures"]
        within_1 = float(np.mean(lsb <= 1))
        p_xnn = sigmoid(ref_runner.dequantize_output(xnn))
        d_xnn, d_ref = p_xnn >= thresholds, p_int8 >= thresholds
        xnn_agreement = float(np.mean(d_xnn == d_ref))
        for i, c in zip(*np.nonzero(d_xnn != d_ref)):
            failures.append(ParityFailure("xnnpack-decision", names[i], int(i), classes[c],
                                          float(p_xnn[i, c]), float(p_int8[i, c])))

    agreement = None
    if keras_model is not None:
        p_keras = sigmoid(keras_logits(keras_model, windows, demo)).reshape(n, n_classes)
        d_int8, d_keras = p_int8 >= thresholds, p_keras >= thresholds
        agreement = float(np.mean(d_int8 == d_keras))
        for i, c in zip(*np.nonzero(d_int8 != d_keras)):
            failures.append(ParityFailure("decision", names[i], int(i), classes[c],
                                          float(p_int8[i, c]), float(p_keras[i, c])))

    passed = (max_lsb_tflm <= tflm_tolerance_lsb
              and (xnn_op is None or xnn_op["max_lsb"] <= max_lsb)
              and (xnn_agreement is None or xnn_agreement >= min_agreement)
              and (agreement is None or agreement >= min_agreement))
    return ParityReport(n_windows=n, exact_tflm_ref=exact, max_lsb_xnnpack=max_lsb_seen,
                        decision_agreement=agreement, failures=failures, passed=passed,
                        max_lsb_allowed=max_lsb, min_agreement=min_agreement,
                        max_lsb_tflm=max_lsb_tflm, tflm_tolerance_lsb=tflm_tolerance_lsb,
                        divergence=divergence, xnnpack_error=xnnpack_error,
                        max_lsb_xnnpack_op=None if xnn_op is None else xnn_op["max_lsb"],
                        xnnpack_op_worst=None if xnn_op is None else xnn_op["worst"],
                        xnnpack_within_1lsb=within_1, xnnpack_decision_agreement=xnn_agreement,
                        xnnpack_ops=[] if xnn_op is None else xnn_op["ops"])


def _xnnpack_kernels(tflite_int8: bytes, ref_runner: Runner, windows: np.ndarray,
                     demo: np.ndarray | None, names: list[str], max_lsb: int) -> dict:
    """The per-kernel XNNPACK check: worst op, per-op table and one failure per (op, window).

    Returns ``{"error": why}`` when a kernel cannot be prepared on its own (XNNPACK is a host
    path only: reported, not failing), else ``max_lsb``, ``worst``, ``ops``, ``failures``.
    """
    ecg_q = np.stack([ref_runner.quantize_ecg(w) for w in windows])
    demo_q = None if ref_runner.demo is None else np.stack(
        [ref_runner.quantize_demo(d) for d in demo])
    try:
        ops = op_lsb_divergence(tflite_int8, ecg_q, demo_q)
    except ModelFormatError as err:
        return {"error": f"per-kernel check: {err}"}
    failures, table, worst, top = [], [], None, 0
    for op in ops:
        label = f"{op['op_name']} (op {op['op_index']})"
        if worst is None or op["max_lsb"] > top:
            worst, top = label, op["max_lsb"]
        for w, (m, (a, b)) in enumerate(zip(op["window_max_lsb"], op["window_worst"])):
            if m > max_lsb:
                failures.append(ParityFailure("xnnpack-op", names[w], w, "", float(a), float(b),
                                              op=label))
        table.append({k: op[k] for k in ("op_index", "op_name", "max_lsb", "mismatched",
                                         "size", "worst_window")}
                     | {"worst_record": names[op["worst_window"]]})
    return {"max_lsb": top, "worst": worst, "ops": table, "failures": failures}


# ----------------------------------------------------------------- kernel by kernel


def first_divergence(tflite_bytes: bytes, ecg_q: np.ndarray,
                     demo_q: np.ndarray | None = None) -> dict | None:
    """The first operator whose output differs between TFLM and LiteRT-ref on one input.

    Both runtimes are run with every intermediate tensor preserved and compared op by op in
    execution order — the way to tell which kernel breaks bit-exactness.

    Returns
    -------
    dict or None
        ``{"op_index", "op_name", "max_lsb", "mismatched", "size"}`` of the first differing
        operator output, or ``None`` when every intermediate tensor matches.
    """
    inputs, _ = io_details(tflite_bytes)
    ecg, demo = find_inputs(inputs)
    feeds = {ecg.position: shaped_input(ecg_q, ecg)}
    if demo is not None:
        feeds[demo.position] = shaped_input(demo_q, demo)
    ref = Interpreter(model_content=bytes(tflite_bytes), num_threads=1,
                      experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                      experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    in_index = [d["index"] for d in ref.get_input_details()]
    for pos, arr in feeds.items():
        ref.set_tensor(in_index[pos], arr)
    ref.invoke()
    # Preserving every tensor needs each in its own memory: drop the offline arena plan.
    unplanned = without_plan(tflite_bytes)
    with quiet_fds():
        micro = tflm.Interpreter.from_bytes(
            unplanned, arena_size=max(4 * measure_arena(unplanned), 1 << 20),
            intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    for pos, arr in feeds.items():
        micro.set_input(arr, pos)
    micro.invoke()
    for op in ref._get_ops_details():  # the only LiteRT API listing ops in execution order
        for t in op["outputs"]:
            a = ref.get_tensor(int(t))
            b = np.asarray(micro.GetTensor(int(t), 0)["tensor_data"]).reshape(a.shape)
            diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
            if diff.any():
                return {"op_index": int(op["index"]), "op_name": op["op_name"],
                        "max_lsb": int(diff.max()), "mismatched": int((diff > 0).sum()),
                        "size": int(diff.size)}
    return None


def _one_op_models(tflite_bytes: bytes) -> list[tuple[int, str, list[int], list[int], bytes]]:
    """For every operator of subgraph 0, in execution order: a flatbuffer running only that op.

    Every tensor and buffer is kept, so tensor indices (and LiteRT's interpreter indices,
    which equal them for the primary subgraph) stay those of the full model; the op's
    non-constant inputs become the subgraph's inputs and its outputs the subgraph's outputs.

    Returns
    -------
    list of (op_index, op_name, input tensor indices, output tensor indices, model bytes)
    """
    # The caller has read the model with io_details, which rejects non-TFLite bytes.
    model = unpack_model(tflite_bytes, ModelFormatError)
    if len(model.subgraphs or []) != 1:
        raise ModelFormatError(f"expected one subgraph, got {len(model.subgraphs or [])}")
    sub = model.subgraphs[0]
    ops = list(sub.operators or [])
    # The signature names the full model's inputs/outputs, which a one-op model no longer has.
    model.signatureDefs = None
    out = []
    for k, op in enumerate(ops):
        live = []
        for t in op.inputs:
            t = int(t)
            if t >= 0 and t not in live and not is_constant(model, sub.tensors[t]):
                live.append(t)
        outs = [int(t) for t in op.outputs]
        sub.operators, sub.inputs, sub.outputs = [op], live, outs
        out.append((k, op_name(model, op), live, outs, pack_model(model)))
    return out


def op_lsb_divergence(tflite_bytes: bytes, ecg_q_batch: np.ndarray,
                      demo_q_batch: np.ndarray | None = None) -> list[dict]:
    """Per-operator |XNNPACK − reference| on identical inputs, for every window.

    Why per operator: XNNPACK requantises in float32 where the reference kernels use fixed
    point, so single values may round one LSB apart; through a deep network these differences
    compound (measured: every kernel of the 34-op default student within 1 LSB, the logits up
    to 3 LSB apart; 9 before its QAT ranges were calibrated).  Comparing each kernel on the *reference's* own intermediate tensors
    separates "a kernel is wrong" from "rounding accumulates".

    How: the full model runs on LiteRT ``BUILTIN_REF`` with every intermediate tensor
    preserved; each operator becomes a one-op flatbuffer (its non-constant inputs as subgraph
    inputs, all buffers kept) loaded once on ``BUILTIN_REF`` and once on LiteRT's default
    (XNNPACK) resolver, and both are fed the reference's tensors of each window.

    Parameters
    ----------
    tflite_bytes
        The full-int8 flatbuffer (one subgraph).
    ecg_q_batch
        Quantised ECG windows ``(n, …)``; each must have the ``ecg`` input's size.
    demo_q_batch
        Quantised demographics ``(n, 5)``; required when the model has a ``demo`` input.

    Returns
    -------
    list of dict
        One per operator in execution order: ``op_index``, ``op_name``, ``max_lsb`` (largest
        |XNNPACK − ref| over all its outputs and windows), ``mismatched`` (values that differ,
        all windows), ``size`` (values compared, all windows), ``worst_window``,
        ``worst_xnnpack`` and ``worst_ref`` (the two values where ``max_lsb`` was first met)
        and, per window, ``window_max_lsb`` (its largest difference) and ``window_worst``
        (``(xnnpack, ref)`` values where it occurs).

    Raises
    ------
    ModelFormatError
        If the bytes are not a usable model or a one-op model cannot be prepared.
    """
    inputs, _ = io_details(tflite_bytes)
    ecg, demo = find_inputs(inputs)
    ecg_q_batch = np.asarray(ecg_q_batch)
    n = len(ecg_q_batch)
    if demo is not None and (demo_q_batch is None or len(demo_q_batch) != n):
        raise ValueError("this model has a demographics input; pass one demo_q per window")

    def load(model: bytes, ref: bool, **extra):
        kwargs = {"model_content": model, "num_threads": 1, **extra}
        if ref:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
        interp = Interpreter(**kwargs)
        interp.allocate_tensors()
        return interp

    try:
        full = load(bytes(tflite_bytes), True, experimental_preserve_all_tensors=True)
    except (RuntimeError, ValueError) as err:
        raise ModelFormatError(f"LiteRT (litert-ref) cannot prepare the model: "
                               f"{' '.join(str(err).split())}") from None
    full_in = [d["index"] for d in full.get_input_details()]
    singles = []
    for k, name, live, outs, model in _one_op_models(tflite_bytes):
        try:
            pair = (load(model, True), load(model, False))
        except (RuntimeError, ValueError) as err:
            raise ModelFormatError(f"LiteRT cannot prepare op {k} ({name}) on its own: "
                                   f"{' '.join(str(err).split())}") from None
        singles.append((k, name, live, outs, pair))

    stats = [{"op_index": k, "op_name": name, "max_lsb": 0, "mismatched": 0, "size": 0,
              "worst_window": 0, "worst_xnnpack": None, "worst_ref": None,
              "window_max_lsb": [0] * n, "window_worst": [(0, 0)] * n}
             for k, name, *_ in singles]
    for w in range(n):
        full.set_tensor(full_in[ecg.position], shaped_input(ecg_q_batch[w], ecg))
        if demo is not None:
            full.set_tensor(full_in[demo.position], shaped_input(demo_q_batch[w], demo))
        full.invoke()
        for st, (_, _, live, outs, pair) in zip(stats, singles):
            results = []
            for interp in pair:
                for t in live:
                    interp.set_tensor(t, full.get_tensor(t))
                interp.invoke()
                results.append(np.concatenate(
                    [interp.get_tensor(t).astype(np.int64).reshape(-1) for t in outs]))
            ref, xnn = results
            # The one-op reference must reproduce the full model's tensor, or the inputs were
            # not wired as in the full graph and the comparison would mean nothing.
            if not np.array_equal(ref, np.concatenate(
                    [full.get_tensor(t).astype(np.int64).reshape(-1) for t in outs])):
                raise ModelFormatError(f"op {st['op_index']} ({st['op_name']}) run on its own "
                                       "does not reproduce the full model's reference output")
            diff = np.abs(xnn - ref)
            worst = int(diff.argmax())
            st["window_max_lsb"][w] = int(diff[worst])
            st["window_worst"][w] = (int(xnn[worst]), int(ref[worst]))
            st["mismatched"] += int(np.count_nonzero(diff))
            st["size"] += int(diff.size)
            if st["worst_ref"] is None or diff[worst] > st["max_lsb"]:
                st.update(max_lsb=int(diff[worst]), worst_window=w,
                          worst_xnnpack=int(xnn[worst]), worst_ref=int(ref[worst]))
    return stats


__all__ = ["ParityFailure", "ParityReport", "parity_chain", "keras_logits", "first_divergence",
           "op_lsb_divergence"]
