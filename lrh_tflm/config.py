"""Configuration: frozen dataclasses that flow down as arguments, and the named profiles.

Library code never reads globals, flags or the environment: the CLI picks a
:class:`Profile`, optionally overrides fields with :func:`dataclasses.replace`, and passes
the pieces down.  Every field has a docstring-comment saying what it means and its unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from lrh_tflm.leads import LEADS

#: The firmware's decision smoothing unless a profile says otherwise: 2 of the last 3 windows.
DEFAULT_SMOOTHING: tuple[int, int] = (2, 3)


@dataclass(frozen=True)
class SynthConfig:
    """The built-in synthetic Challenge-format dataset."""

    records: int = 1200
    """Number of records to generate."""
    seed: int = 0
    """Random seed; the same seed gives byte-identical files."""
    fs: int = 500
    """Sampling rate of the written records in Hz (the Challenge's usual 500 Hz)."""
    seconds: float = 10.0
    """Duration of every record in seconds."""
    gain: float = 1000.0
    """ADC gain written to the header, counts per mV."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Resampling, band-pass, normalisation and windowing; the firmware applies the same."""

    fs: float = 125.0
    """Model sampling rate in Hz; every record is resampled to it."""
    window: int = 1024
    """Samples per model input window (per lead)."""
    cache_len: int = 1250
    """Samples kept per record in the cache (centre crop or zero-pad); training crops windows from it."""
    band_hz: tuple[float, float] = (0.5, 40.0)
    """Band-pass corner frequencies in Hz (Butterworth, applied causally as SOS sections)."""
    filter_order: int = 2
    """Butterworth order per band edge (band-pass has 2 × order poles, order SOS sections)."""
    normalise: str = "zscore"
    """"zscore": per-window, per-lead zero mean and unit variance; "none": millivolts as is."""
    zscore_eps: float = 1e-3
    """Added to the per-lead standard deviation (mV) so flat windows do not blow up."""
    min_fs: float = 50.0
    """Records sampled below this rate (Hz) cannot be resampled usefully and are skipped."""
    min_seconds: float = 2.0
    """Records shorter than this (s) are skipped."""
    flat_std_mv: float = 0.001
    """A lead whose standard deviation (mV) is below this is a flat line."""
    leads: tuple[str, ...] = LEADS
    """Leads stored in the cache; III, aVR, aVL, aVF are derived from I and II when missing."""


@dataclass(frozen=True)
class LabelConfig:
    """Which classes a model predicts."""

    space: str = "scored"
    """"scored": the 2021 Challenge's scored classes (equivalent codes merged);
    "all": every code seen in the data; "superdiagnostic"/"rhythm" for PTB-XL."""
    min_count: int = 1
    """Classes with fewer positive training records than this are dropped."""


@dataclass(frozen=True)
class SplitConfig:
    """Train/validation/test split."""

    folds: int = 5
    """Number of multi-label stratified folds for data without official folds."""
    val_fold: int = 1
    """Fold used for validation (early stopping, thresholds)."""
    test_fold: int = 0
    """Fold held out for the final numbers."""
    seed: int = 0
    """Seed of the stratified fold assignment."""


@dataclass(frozen=True)
class TeacherConfig:
    """1-D SE-ResNet18 (the paper's teacher), built from Conv2D (1×k) layers."""

    width: float = 1.0
    """Channel multiplier on 64/128/256/512."""
    stem_kernel: int = 15
    """Stem convolution width in samples."""
    kernel: int = 7
    """Kernel width inside the basic blocks."""
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    """Basic blocks per stage."""
    dropout: float = 0.2
    """Dropout between the two convolutions of a block."""
    se_ratio: int = 16
    """Squeeze-and-excitation reduction ratio."""
    demographics: bool = True
    """Concatenate the Dense(5→10) age/sex branch before the classifier."""


@dataclass(frozen=True)
class StudentConfig:
    """LRH-Net, the paper-exact student, or its microcontroller variants.

    The design fields from ``stem_stride`` on are ``lrh-net-micro``'s levers; ``None`` means the
    variant's own value (:attr:`design`).  The paper's ``lrh-net`` and ``lrh-net-mcu`` have one
    fixed design each and refuse other values.
    """

    variant: str = "lrh-net"
    """"lrh-net" (paper block order ReLU → BN), "lrh-net-mcu" (conv → BN → ReLU, TFLM-friendly
    SE) or "lrh-net-micro" (the MCU order with a strided stem, separable convolutions, SE where
    it pays and channels in multiples of 4: designed for CMSIS-NN's fast paths)."""
    width: float = 1.0
    """Channel multiplier on 16/32/64 (``lrh-net-micro`` rounds to multiples of 4)."""
    kernel: int | None = None
    """Convolution width in samples; ``None``: the variant's (8 for the paper's, 4 for micro)."""
    se_ratio: int = 8
    """Squeeze-and-excitation reduction ratio."""
    dense: int | None = None
    """Width of the head's hidden Dense layer; ``None``: the variant's own (:attr:`head_width`)."""
    demographics: bool = True
    """Concatenate the Dense(5→10) age/sex branch before the head."""
    stem_stride: int | None = None
    """Stride of the stem convolution (micro: 4; the paper's: 1)."""
    stem_pool: int | None = None
    """Max-pooling factor after the stem (1: none)."""
    separable: bool | None = None
    """Depthwise-separable residual convolutions (depthwise 1×k, then pointwise 1×1)."""
    se_blocks: tuple[int, ...] | None = None
    """Residual blocks (1-3) that carry a squeeze-and-excitation gate (the paper's: all)."""
    pool: str | None = None
    """Time averaging of the SE gates and the head: "mean" (TFLite MEAN, the paper's) or
    "avgpool" (AVERAGE_POOL_2D over the window, CMSIS-NN's SIMD pooling kernel)."""

    @property
    def head_width(self) -> int:
        """Hidden head width: ``dense`` if set, else 128 for ``lrh-net`` (the paper), 64 for
        ``lrh-net-mcu`` (its int8 flatbuffer is then 96 KB instead of 102 KB, inside the MCU
        variant's 100 KB flash budget) and for ``lrh-net-micro``."""
        return self.design["dense"]

    @property
    def design(self) -> dict:
        """Every design lever resolved: the set fields over the variant's defaults."""
        base = dict(_STUDENT_DESIGNS.get(self.variant, _STUDENT_DESIGNS["lrh-net"]))
        for key in base:
            value = getattr(self, key)
            if value is not None:
                base[key] = tuple(value) if key == "se_blocks" else value
        return base


#: Each student variant's design (``StudentConfig.design``).  ``lrh-net-micro``'s is the
#: design sweep's choice (benchmarks/bench_student_design.py, README "Student design").
_STUDENT_DESIGNS = {
    "lrh-net": {"kernel": 8, "dense": 128, "stem_stride": 1, "stem_pool": 1, "separable": False,
                "se_blocks": (1, 2, 3), "pool": "mean"},
    "lrh-net-mcu": {"kernel": 8, "dense": 64, "stem_stride": 1, "stem_pool": 1,
                    "separable": False, "se_blocks": (1, 2, 3), "pool": "mean"},
    "lrh-net-micro": {"kernel": 4, "dense": 64, "stem_stride": 4, "stem_pool": 1,
                      "separable": False, "se_blocks": (3,), "pool": "avgpool"},
}
#: The student variants, in order of appearance.
STUDENT_VARIANTS = tuple(_STUDENT_DESIGNS)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule for one training stage."""

    epochs: int = 30
    """Maximum epochs."""
    batch_size: int = 64
    """Batch size."""
    lr: float = 3e-3
    """Adam learning rate."""
    lr_drops: tuple[int, ...] = (20, 40)
    """Epochs at which the learning rate is multiplied by ``lr_factor``."""
    lr_factor: float = 0.1
    """Step factor of the schedule."""
    patience: int = 10
    """Early stopping patience in epochs on the validation challenge score."""
    steps_per_epoch: int | None = None
    """Batches per epoch (``None``: one pass over the training windows)."""
    crop_step: int | None = None
    """Training crops start at a multiple of this many samples (``None``: at any sample).  On a
    grid, distillation can read teacher logits computed once per crop
    (:attr:`KDConfig.cached_logits`)."""
    eval_hop: int | None = None
    """Hop (samples) between the windows a record is evaluated on; the probabilities of its
    windows are averaged (test-time aggregation, as the PTB-XL benchmark does).  ``None``: one
    centre window per record."""


@dataclass(frozen=True)
class KDConfig:
    """Knowledge distillation."""

    scheme: str = "parallel"
    """"none", "vanilla", "parallel" or "sequential"."""
    loss: str = "kl-softmax"
    """"kl-softmax" (the paper's), "bce-sigmoid" (per-class soft targets) or "mse-logits"
    (logit matching: mean squared difference of the raw logits, T ignored)."""
    alpha: float = 0.2
    """Weight of the hard-label loss; 1 − alpha goes to distillation."""
    temperature: float = 8.0
    """Softening temperature T."""
    teacher_weights: tuple[float, float] = (0.7, 0.3)
    """Weights of (12-lead teacher, reduced-lead teacher)."""
    t_squared: bool = False
    """Multiply the distillation loss by T² (Hinton); the paper does not."""
    assistant_leads: str | None = None
    """Leads of the reduced-lead teacher/assistant; ``None``: the student's leads."""
    ensemble: bool = False
    """Several teachers: distil from the weighted mean of their logits (one ensemble teacher)
    instead of summing one weighted loss per teacher (the paper's multi-teacher loss)."""
    epochs: int | None = None
    """Epochs of a distilled model (a patient schedule); ``None``: its TrainConfig's."""
    cached_logits: bool = True
    """Run each frozen teacher once on every training crop of the grid
    (:attr:`TrainConfig.crop_step`) and read its logits with the batch, instead of running
    the teachers at every step: the same loss on the same crops, at the cost of training
    alone.  Ignored when the training crops are not on a grid."""


@dataclass(frozen=True)
class QuantConfig:
    """Quantisation and conversion."""

    mode: str = "qat"
    """"qat" (quantisation-aware fine-tuning) or "ptq" (post-training only)."""
    qat_epochs: int = 5
    """Epochs of quantisation-aware fine-tuning."""
    qat_lr: float = 3e-4
    """Learning rate during QAT."""
    representative_windows: int = 256
    """Training windows fed to the converter to calibrate int8 ranges."""
    arena_margin: float = 0.10
    """Fraction added to the measured TFLM arena for the firmware's arena size."""
    arena_margin_bytes: int = 1024
    """Bytes added on top of the fractional margin (alignment, TFLM version drift)."""


@dataclass(frozen=True)
class Profile:
    """Everything a build needs, bundled under one name."""

    name: str
    synth: SynthConfig = field(default_factory=SynthConfig)
    data: PreprocessConfig = field(default_factory=PreprocessConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher_train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=3e-4))
    student_train: TrainConfig = field(default_factory=TrainConfig)
    kd: KDConfig = field(default_factory=KDConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    hop: int = 256
    """Firmware hop between successive windows, in samples at the model rate."""
    smoothing: tuple[int, int] = DEFAULT_SMOOTHING
    """Firmware decision smoothing ``(k, n)``: a class is reported when it is decided in ``k``
    of the last ``n`` windows (``kSmoothK``/``kSmoothN`` in the generated header)."""


_BCE = KDConfig(loss="bce-sigmoid", alpha=0.5, temperature=2.0, teacher_weights=(0.5, 0.5))

#: Named distillation recipes.  ``paper`` is the LRH-Net paper's exactly (kept selectable
#: whatever the defaults become); the others are the alternatives ``benchmarks/bench_ptbxl.py``
#: compares on PTB-XL's validation fold.
KD_RECIPES: dict[str, KDConfig] = {
    "paper": KDConfig(loss="kl-softmax", alpha=0.2, temperature=8.0, teacher_weights=(0.7, 0.3)),
    "bce": _BCE,
    "mse": KDConfig(loss="mse-logits", alpha=0.5, temperature=1.0, teacher_weights=(0.5, 0.5)),
    "mse-ensemble": KDConfig(loss="mse-logits", alpha=0.5, temperature=1.0,
                             teacher_weights=(0.5, 0.5), ensemble=True),
    "mse-patient": KDConfig(loss="mse-logits", alpha=0.5, temperature=1.0,
                            teacher_weights=(0.5, 0.5), epochs=20),
    # One change to ``bce`` each: the hard-label weight α, the temperature with and without
    # Hinton's T² scaling, the teacher weights, one ensemble teacher, and a patient schedule
    # (20 epochs, twice the students' 10 when the study ran; teacher and student always see
    # the same crop, as in every recipe).  On today's 20-epoch ``ptbxl`` students,
    # ``bce-patient`` is ``bce``.
    "bce-alpha0.2": replace(_BCE, alpha=0.2),
    "bce-alpha0.8": replace(_BCE, alpha=0.8),
    "bce-t4": replace(_BCE, temperature=4.0),
    "bce-t4-tsq": replace(_BCE, temperature=4.0, t_squared=True),
    "bce-w0.7": replace(_BCE, teacher_weights=(0.7, 0.3)),
    "bce-ensemble": replace(_BCE, ensemble=True),
    "bce-patient": replace(_BCE, epochs=20),
}


def kd_recipe(name: str) -> KDConfig:
    """The named KD recipe (:data:`KD_RECIPES`).

    Raises
    ------
    ValueError
        Unknown recipe name.
    """
    try:
        return KD_RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown KD recipe {name!r}; choose one of {', '.join(KD_RECIPES)}") from None


def _smoke() -> Profile:
    return Profile(
        name="smoke",
        synth=SynthConfig(records=160, seed=0),
        data=PreprocessConfig(fs=100.0, window=512, cache_len=1000),
        # Width 0.25, not 0.125: with 8 channels the stride-2 1×1 shortcut conv's gradient
        # corrupts the heap in TF 2.21's oneDNN kernels for many batch sizes (e.g. 5, 21, 23).
        teacher=TeacherConfig(width=0.25, blocks=(1, 1, 1, 1)),
        student=StudentConfig(variant="lrh-net-micro"),
        teacher_train=TrainConfig(epochs=2, batch_size=32, lr=3e-3, lr_drops=(), patience=2),
        student_train=TrainConfig(epochs=2, batch_size=32, lr=3e-3, lr_drops=(), patience=2),
        quant=QuantConfig(qat_epochs=1, representative_windows=32),
        hop=250,
    )


def _default() -> Profile:
    return Profile(
        name="default",
        synth=SynthConfig(records=1200, seed=0),
        data=PreprocessConfig(fs=125.0, window=1024, cache_len=1250),
        teacher=TeacherConfig(width=0.25),
        student=StudentConfig(variant="lrh-net-micro"),
        teacher_train=TrainConfig(epochs=12, batch_size=64, lr=3e-3, lr_drops=(8,), patience=6),
        student_train=TrainConfig(epochs=15, batch_size=64, lr=3e-3, lr_drops=(10,), patience=6),
        quant=QuantConfig(qat_epochs=3, representative_windows=256),
        hop=250,
    )


def _paper() -> Profile:
    return Profile(
        name="paper",
        synth=SynthConfig(records=5000, seed=0),
        data=PreprocessConfig(fs=257.0, window=4096, cache_len=4096),
        teacher=TeacherConfig(width=1.0),
        student=StudentConfig(),
        teacher_train=TrainConfig(epochs=50, batch_size=64, lr=3e-4, lr_drops=(20, 40), patience=15),
        student_train=TrainConfig(epochs=50, batch_size=64, lr=3e-3, lr_drops=(20, 40), patience=15),
        kd=KDConfig(scheme="sequential", loss="kl-softmax", alpha=0.2, temperature=8.0,
                    teacher_weights=(0.7, 0.3)),
        quant=QuantConfig(qat_epochs=10, representative_windows=512),
        hop=1024,
    )


def _ptbxl() -> Profile:
    # Real data on a laptop: PTB-XL's native 100 Hz (no resampling), 2.5-s training crops
    # from the 10-s records as in the PTB-XL benchmark, and every record scored on seven
    # half-overlapping 2.5-s windows whose probabilities are averaged.  A 250-sample window
    # costs a quarter of the default's compute, which is what lets the whole official split
    # train every stage on 2 cores within an hour; the board infers every 1.25 s.  Students
    # train on the crops the board infers on (a 1.25-s grid), so distillation computes each
    # teacher's logits once per crop instead of at every step (KDConfig.cached_logits).
    return Profile(
        name="ptbxl",
        data=PreprocessConfig(fs=100.0, window=250, cache_len=1000),
        labels=LabelConfig(space="superdiagnostic+rhythm"),
        teacher=TeacherConfig(width=0.25),
        # The microcontroller student of benchmarks/bench_student_design.py (issue 14).
        student=StudentConfig(variant="lrh-net-micro"),
        teacher_train=TrainConfig(epochs=10, batch_size=64, lr=3e-3, lr_drops=(7,), patience=4,
                                  eval_hop=125),
        # Students train twice as long as teachers: the PTB-XL study's best recipe on fold 9
        # was ``bce-patient`` (bce, 20 epochs), and the student alone gained as much from the
        # same 20 epochs, so both students get them (the KD gain is then not the epochs').
        student_train=TrainConfig(epochs=20, batch_size=64, lr=3e-3, lr_drops=(14,), patience=8,
                                  crop_step=125, eval_hop=125),
        # The recipe and scheme the PTB-XL study chose on fold 9 (benchmarks/bench_ptbxl.py):
        # bce on the 20-epoch schedule above is exactly its ``bce-patient``.
        kd=replace(KD_RECIPES["bce"], scheme="vanilla"),
        quant=QuantConfig(qat_epochs=2, representative_windows=256),
        hop=125,
    )


PROFILES = {"smoke": _smoke, "default": _default, "paper": _paper, "ptbxl": _ptbxl}


def get_profile(name: str) -> Profile:
    """Return the named profile (``smoke``, ``default``, ``paper`` or ``ptbxl``)."""
    try:
        return PROFILES[name]()
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


__all__ = [
    "SynthConfig", "PreprocessConfig", "LabelConfig", "SplitConfig", "TeacherConfig",
    "StudentConfig", "STUDENT_VARIANTS", "TrainConfig", "KDConfig", "QuantConfig", "Profile", "PROFILES",
    "get_profile", "KD_RECIPES", "kd_recipe", "DEFAULT_SMOOTHING", "replace",
]
