"""A population's draws (``initlab.init.draws``): each distinct seed drawn once, the bits of
every member drawing alone; a coordinate check's parametrizations at one width share one
draw, and every cell keeps the numbers it has computed alone."""

import numpy as np
import pytest

from initlab._rng import make_rng
from initlab._validation import InitlabError
from initlab.init import catalogue, draws
from initlab.init import parametrization as par
from initlab.studies import _draws as shared_draws
from initlab.studies import scaling

SHAPES = [(6, 5), (6, 6), (6, 6), (3, 6)]


@pytest.mark.parametrize(
    ("init", "dtype"),
    [("he", np.float64), ("he", np.float32), ("orthogonal", np.float64),
     ({"name": "xavier_uniform"}, np.float64), ("lecun_normal", np.float32)],
)  # fmt: skip
def test_each_seed_is_drawn_once_and_every_member_has_its_own_draws(init, dtype, monkeypatch):
    """Members of a repeated seed get the bits they draw alone (an independent reference: the
    initializer called layer after layer on the member's own generator), and the initializer
    draws 3 seeds' layers only."""
    seeds = [4, 1, 4, 4, 9, 1]
    initializer = catalogue.get(init)
    calls = []
    draw_into = type(initializer).draw_into
    monkeypatch.setattr(type(initializer), "draw_into",
                        lambda self, out, rng: calls.append(1) or draw_into(self, out, rng))  # fmt: skip
    Ws = draws.draw_stacked(initializer, SHAPES, seeds, dtype)
    assert len(calls) == 3 * len(SHAPES)
    for k, seed in enumerate(seeds):
        rng = make_rng(seed)
        for W, shape in zip(Ws, SHAPES, strict=True):
            alone = initializer(shape, rng, dtype)
            assert W.dtype == alone.dtype and W[k].tobytes() == alone.tobytes()


@pytest.mark.parametrize("p", ["sp", "ntk", "mup"])
def test_init_model_with_drawn_weights_is_init_model(p):
    """``init_model(..., weights=draw_weights(...))`` has init_model's bits (residual blocks
    of 2 layers, a zeroed branch end, learnable multipliers, repeated seeds); a draw of other
    sizes is one error naming the argument."""
    kw = dict(depth=2, skip=True, branch_layers=2, branch_scaling="learnable", zero_branch=True,
              parametrization=p, base_width=4, init="he")  # fmt: skip
    seeds = [3, 0, 3]
    model, lr = par.init_model((5, 8, 3), seeds, **kw)
    drawn = draws.draw_weights((5, 8, 3), seeds, depth=2, branch_layers=2, init="he")
    given, lr_given = par.init_model((5, 8, 3), seeds, **kw, weights=drawn)
    assert lr == lr_given and given.params[2] is drawn[1]  # the draws became the model's
    for a, b in zip(model.params, given.params, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    with pytest.raises(InitlabError, match="init_model's weights must be draw_weights'"):
        par.init_model((5, 8, 3), seeds, **kw, weights=drawn[:-1])


@pytest.mark.parametrize("budget", [shared_draws.SHARED_BYTES, 0])
def test_a_widths_parametrizations_share_one_draw_and_keep_their_cells_numbers(budget,
                                                                             monkeypatch):  # fmt: skip
    """SP, NTK and muP at one width start from one draw (each of the first two trains a copy:
    none changes another's start); every cell's sizes are those of its group computed alone
    by the executor's ``compute``. With no room for the draws, each population draws its own,
    the second and third into the arrays of the one before (done with)."""
    monkeypatch.setattr(shared_draws, "SHARED_BYTES", budget)
    made = []
    draw = draws.draw_weights
    monkeypatch.setattr(draws, "draw_weights",
                        lambda *a, **k: made.append((a[0][1], k.get("out") is not None))
                        or draw(*a, **k))  # fmt: skip
    kw = dict(widths=(16, 32), seeds=(0, 2, 1), steps=2, n_examples=48, base_width=16)
    cc = scaling.coord_check(**kw)
    recycled = [(16, False), (16, True), (16, True), (32, False), (32, True), (32, True)]
    assert made == ([(16, False), (32, False)] if budget else recycled)
    groups: dict[str, list] = {}
    for c in scaling.study(**kw).cells:
        groups.setdefault(c.group, []).append(c.config)
    for configs in groups.values():
        alone = scaling.compute(configs)
        c = configs[0]
        i, j = cc.parametrizations.index(c["parametrization"]), cc.widths.index(c["width"])
        for k, record in enumerate(alone):
            np.testing.assert_array_equal(cc.size[i, :, :, j, k], record["size"])
            np.testing.assert_array_equal(cc.change[i, :, :, j, k], record["change"])
