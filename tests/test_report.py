"""The build report's example strips: ECG paper at true size (25 mm/s, 10 mm/mV, 1/5-mm grid)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lrh_tflm  # noqa: F401  (before TensorFlow)
from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.cache import PreparedData
from lrh_tflm.data.labels import scored_space
from lrh_tflm.leads import LEADS as LEADS_12
from lrh_tflm.pipeline.report import (
    PAPER_GAIN,
    PAPER_SPEED,
    STRIP_DPI,
    Strips,
    example_strips,
    plot_strips,
    strip_figure,
)

FS, T = 100.0, 250          # 2.5 s windows
LEADS = ("I", "II")


def _strips(n=2) -> Strips:
    t = np.arange(T) / FS
    # Lead I: a 1-mV-amplitude, 2-Hz sine (2 mV peak to peak); lead II: half of it.
    sine = np.sin(2 * np.pi * 2.0 * t)
    ecg = np.stack([np.stack([sine, 0.5 * sine], axis=-1)] * n).astype(np.float32)
    return Strips(ecg, LEADS, FS, [f"R{k}" for k in range(n)], [["AF"], ["NSR"]][:n],
                  [["AF"], ["AF"]][:n])


def _line(ax, gid):
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


@pytest.fixture(scope="module")
def figure():
    import matplotlib.pyplot as plt

    fig = strip_figure(_strips())
    yield fig
    plt.close(fig)


def test_paper_speed_and_gain(figure):
    assert (PAPER_SPEED, PAPER_GAIN) == (25.0, 10.0)
    ax = figure.axes[0]
    x, y = _line(ax, "lead:I")
    np.testing.assert_allclose(np.diff(x), 25.0 / FS)                 # 0.25 mm per sample
    assert x[-1] - x[0] == pytest.approx((T - 1) / FS * 25.0)         # 2.49 s → 62.25 mm
    assert y.max() - y.min() == pytest.approx(20.0, abs=0.05)         # 2 mV → 20 mm
    _, y2 = _line(ax, "lead:II")
    assert y2.max() - y2.min() == pytest.approx(10.0, abs=0.05)
    # One row per lead, lead I above lead II, both inside the sheet.
    lo, hi = ax.get_ylim()
    assert lo <= y2.min() < y2.max() < y.min() < y.max() <= hi


def test_calibration_pulse_is_one_millivolt_by_200_ms(figure):
    for ax in figure.axes:
        for lead in LEADS:
            cx, cy = _line(ax, f"calibration:{lead}")
            base = cy[0]
            assert cy.max() - base == pytest.approx(10.0)             # 1 mV = 10 mm
            top = cx[cy == cy.max()]
            assert top.max() - top.min() == pytest.approx(5.0)        # 200 ms = 5 mm
            tx, ty = _line(ax, f"lead:{lead}")
            assert cx.max() <= tx.min()                               # before the trace
            assert np.median(ty) == pytest.approx(base, abs=0.5)      # on the trace's baseline
        assert [t.get_text() for t in ax.texts] == list(LEADS)


def test_grid_is_one_and_five_millimetres(figure):
    for ax in figure.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            assert lo == 0 and hi % 5 == 0
            # Matplotlib drops the minor lines under major ones: together they rule every mm.
            every = np.union1d(axis.get_minorticklocs(), axis.get_majorticklocs())
            np.testing.assert_allclose(every, np.arange(lo, hi + 0.5))
            np.testing.assert_allclose(np.diff(axis.get_majorticklocs()), 5.0)
            assert axis.get_majorticklocs()[[0, -1]].tolist() == [lo, hi]
            assert all(g.get_visible() for g in axis.get_gridlines())
            minor = axis.get_minor_ticks()[0].gridline
            assert minor.get_visible() and minor.get_linewidth() < axis.get_gridlines()[0].get_linewidth()


def test_one_axis_millimetre_is_one_millimetre_of_paper(figure):
    w_in, h_in = figure.get_size_inches()
    for ax in figure.axes:
        box = ax.get_position()
        assert box.width * w_in * 25.4 == pytest.approx(np.ptp(ax.get_xlim()))
        assert box.height * h_in * 25.4 == pytest.approx(np.ptp(ax.get_ylim()))
    # Sheets stack top to bottom without overlapping.
    tops = [ax.get_position().y1 for ax in figure.axes]
    assert tops == sorted(tops, reverse=True)
    assert figure.axes[0].get_position().y0 > figure.axes[1].get_position().y1


def _title(ax):
    from matplotlib.colors import to_hex
    from matplotlib.text import Text

    text = ax.get_title(loc="left")
    (artist,) = [c for c in ax.get_children() if isinstance(c, Text) and c.get_text() == text]
    return text, to_hex(artist.get_color())


def test_labels_title_and_wrong_prediction_in_red(figure):
    (t0, c0), (t1, c1) = _title(figure.axes[0]), _title(figure.axes[1])
    assert t0.startswith("R0") and "true: AF" in t0 and "predicted: AF" in t0
    assert t1.startswith("R1") and "true: NSR" in t1 and "predicted: AF" in t1
    assert c0 == "#000000" and c1 == "#b2182b"


def test_png_is_true_size_at_its_dpi(tmp_path):
    path = plot_strips(_strips(), tmp_path / "strips.png")
    with Image.open(path) as im:
        dpi = im.info["dpi"]
        px = im.size
    assert dpi[0] == pytest.approx(STRIP_DPI, abs=0.05)  # PNG stores whole pixels per metre
    # 2.5 s at 25 mm/s plus the 10-mm calibration margin: 72.5 → 75 mm of paper per row.
    width_mm = px[0] / dpi[0] * 25.4
    assert width_mm == pytest.approx(75.0 + 2 * 5.0, abs=0.5)


def test_example_strips_are_millivolts_not_zscores():
    n, cache_len, window = 5, 300, 128
    pre = PreprocessConfig(fs=100.0, window=window, cache_len=cache_len)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, cache_len, 12)) * 0.3 + 0.1).astype(np.float32)
    space = scored_space().subset([0, 14, 11])
    y = np.eye(n, 3, dtype=bool)
    data = PreparedData(x=x, valid_len=np.full(n, cache_len, np.int32), y=y,
                        demo=np.zeros((n, 5), np.float32), names=tuple(f"R{k}" for k in range(n)),
                        folds=None, classes=space, pre=pre, path=Path("/nowhere"), manifest={})
    test = np.array([4, 1, 2, 0, 3])
    pred = np.zeros((5, 3), bool)
    pred[0, 2] = True
    s = example_strips(data, test, window, ("II", "V1"), pred, n=3)
    start = (cache_len - window) // 2
    lead = [LEADS_12.index("II"), LEADS_12.index("V1")]
    np.testing.assert_array_equal(s.ecg, x[test[:3], start:start + window][..., lead])
    assert s.leads == ("II", "V1") and s.fs == 100.0 and list(s.names) == ["R4", "R1", "R2"]
    abbr = list(space.abbreviations)
    assert [list(t) for t in s.true] == [[], [abbr[1]], [abbr[2]]]
    assert [list(p) for p in s.pred] == [[abbr[2]], [], []]
