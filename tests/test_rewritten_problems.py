"""The three original problems, rewritten as ``define_problem`` definitions, give the numbers the previous
hand-written classes gave (values recorded from that implementation, float64, in tests/data)."""

import json
from pathlib import Path

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine.mlp import MLP
from pinn_landscape_widget.engine.objective import Objective

CASES = json.loads((Path(__file__).parent / "data" / "legacy_values.json").read_text())


def _points(net):
    # the recorded values' parameter points: a seeded init, perturbed, and a 3 x 3 plane around it
    theta = net.init(seed=5, dtype=torch.float64)
    gen = torch.Generator().manual_seed(11)
    theta = theta + 0.3 * torch.randn(theta.shape, generator=gen, dtype=torch.float64)
    D = 0.5 * torch.randn((2, theta.numel()), generator=gen, dtype=torch.float64)
    coef = torch.tensor([[a, b] for a in (-1.0, 0.0, 0.5) for b in (-0.5, 0.0, 1.0)], dtype=torch.float64)
    return theta + coef @ D


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['problem']}-{c['formulation']}-{c['params']}")
def test_rewritten_problem_matches_the_previous_implementation(case):
    prob = plw.get_problem(case["problem"], **case["params"])
    assert prob.quadrature()[0].shape[0] == case["quadrature_n"]
    net = MLP(prob.dim, case["width"], case["depth"], "tanh")
    obj = Objective(prob, net, case["formulation"], "cpu", torch.float64)
    with torch.no_grad():
        got = obj.evaluate(_points(net))
    assert set(got) == set(case["values"])
    for key, want in case["values"].items():
        want = torch.tensor(want, dtype=torch.float64)
        torch.testing.assert_close(got[key], want, rtol=1e-11, atol=1e-12, msg=key)
    if case["formulation"] == "deep_ritz":
        assert prob.exact_energy() == pytest.approx(case["energy_reference"], rel=1e-15)
