"""`initlab verify`: the published claims, checked on this machine, in about a minute.

CI runs the full `initlab verify` (.ci/run); here the quick subset runs end to end, and
each check is shown to fail when the number it checks is wrong.
"""

from __future__ import annotations

import pytest

from initlab.cli import main
from initlab.studies import verify


@pytest.mark.slow
def test_quick_verify_passes_and_prints_every_claim(cats_vs_dogs_dir, capsys):
    assert main(["verify", "--quick", "--data", str(cats_vs_dogs_dir)]) == 0
    out = capsys.readouterr().out
    assert "provenance: initlab" in out
    for claim in ("post: zeros init's costs", "post: random init's costs", "post: he trains",
                  "post: xavier trains", "post: zeros does not train", "Schoenholz",
                  "Glorot", "He et al.", "Pennington", "torch"):  # fmt: skip
        assert claim in out, claim
    assert "FAILS" not in out and "claims hold" in out


def test_eight_digits_means_eight_digits():
    """The post's zeros cost off in its 7th digit is refused; to its 8 printed digits, held."""
    assert not verify._same_digits(0.6931471805599453, 0.6931475)
    assert verify._same_digits(0.6931471805599453, 0.69314718)


def test_the_critical_line_check_fails_on_the_wrong_activation(monkeypatch):
    """A critical line solved for sigmoid instead of tanh is caught."""
    from initlab.analysis import correlation

    real = correlation.critical_line
    assert verify.critical_claim().holds
    monkeypatch.setattr(correlation, "critical_line", lambda act, b2: real("sigmoid", b2))
    assert not verify.critical_claim().holds


def test_verify_without_the_posts_images_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(verify, "CHECKS", [verify.critical_claim])
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert main(["verify"]) == 0
    captured = capsys.readouterr()
    assert "its claims are not checked" in captured.err
    assert "1 of 1 claims hold" in captured.out


@pytest.mark.parametrize("name", ["mup_claim", "saxe_claim"])
def test_the_claims_the_quick_subset_leaves_out_hold(name):
    """CI's full `initlab verify` runs these two; the quick run above does not."""
    from initlab.studies import verify

    claim = getattr(verify, name)()
    assert claim.holds, claim
