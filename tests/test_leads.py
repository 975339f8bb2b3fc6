import numpy as np
import pytest

from lrh_tflm.leads import LEAD_SETS, LEADS, LeadError, derive_limb_leads, lead_indices, parse_leads


@pytest.mark.parametrize("n", [12, 6, 4, 3, 2])
def test_challenge_sets_by_number(n):
    assert parse_leads(n) == LEAD_SETS[n]
    assert parse_leads(str(n)) == LEAD_SETS[n]
    assert len(parse_leads(n)) == n


def test_explicit_lists_are_canonicalised():
    assert parse_leads("II") == ("II",)
    assert parse_leads("v2, ii,I") == ("I", "II", "V2")
    assert parse_leads(["avr", "I"]) == ("I", "aVR")


@pytest.mark.parametrize("spec", ["I,XYZ", "V7", "", 5, "1"])
def test_unknown_leads_are_clear_errors(spec):
    with pytest.raises(LeadError) as err:
        parse_leads(spec)
    assert str(err.value)


def test_lead_indices():
    assert lead_indices(("I", "II")) == [0, 1]
    assert lead_indices(("V2",), within=("I", "II", "V2")) == [2]
    with pytest.raises(LeadError):
        lead_indices(("V1",), within=("I", "II"))


def test_derived_limb_leads_obey_einthoven_and_goldberger():
    rng = np.random.default_rng(0)
    i, ii = rng.normal(size=(2, 100))
    d = derive_limb_leads(i, ii)
    np.testing.assert_allclose(d["III"], ii - i)
    np.testing.assert_allclose(d["aVR"] + d["aVL"] + d["aVF"], 0, atol=1e-12)
    np.testing.assert_allclose(d["aVL"], (i - d["III"]) / 2)
    assert LEADS[:6] == ("I", "II", "III", "aVR", "aVL", "aVF")
