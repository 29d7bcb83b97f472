"""Graded items of lab 05 (normalizing flows). Read by the grader only (see
course_grader/items.py)."""

import os

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import flows as fl
from course_lib.data import two_moons

HIDE = {"flows": ["AffineCoupling", "AdditiveCoupling", "realnvp", "nice", "glow"]}


def coupling_cases(rng):
    cases = []
    for dim, parity in [
        (2, 0),
        (3, int(rng.integers(2))),
        (5, int(rng.integers(2))),
        (6, int(rng.integers(2))),
    ]:
        # every weight from the grading seed: the layer's initial weights, then their perturbation
        layer = fl.AffineCoupling(
            dim, fl.checkerboard_mask(dim, parity), 8, generator=int(rng.integers(2**31))
        )
        reference = fl.randomize_parameters(layer, generator=int(rng.integers(2**31)))
        x, z2 = rng.normal(size=(7, dim)), rng.normal(size=(7, dim))
        with torch.no_grad():
            z_ref, ld_ref = reference(torch.tensor(x))
            inv_ref = reference.inverse(torch.tensor(z2))
        params = {f"p:{k}": v.numpy() for k, v in reference.state_dict().items()}

        z_ref, ld_ref, inv_ref = z_ref.numpy(), ld_ref.numpy(), inv_ref.numpy()

        def check(out, z_ref=z_ref, ld_ref=ld_ref, inv_ref=inv_ref, x=x):
            return (
                out["z"].shape == z_ref.shape
                and out["ld"].shape == ld_ref.shape
                and out["inv"].shape == inv_ref.shape
                and bool(out["unchanged"])
                and np.allclose(out["z"], z_ref, atol=1e-10)
                and np.allclose(out["ld"], ld_ref, atol=1e-10)
                and np.allclose(out["inv"], inv_ref, atol=1e-10)
            )

        cases.append(
            Case(
                {"dim": np.int64(dim), "parity": np.int64(parity), "x": x, "z2": z2, **params},
                check,
            )
        )
    return cases


CALL_COUPLING = """import torch
from course_lib import flows as fl
layer = StudentAffineCoupling(int(dim), fl.checkerboard_mask(int(dim), int(parity)), 8).double()
layer.load_state_dict({k[2:]: torch.as_tensor(v) for k, v in list(globals().items()) \
if k.startswith("p:")})
layer.eval()
xt = torch.as_tensor(x)
before = xt.clone()
with torch.no_grad():
    z, ld = layer(xt)
    inv = layer.inverse(torch.as_tensor(z2))
result = {"z": z, "ld": ld, "inv": inv, "unchanged": torch.equal(xt, before)}
"""

CALL_FLOW = """result = {"n_layers": len(flow.layers)}
for k, layer in enumerate(flow.layers):
    for name, value in layer.state_dict().items():
        result[f"{k}:{name}"] = value
"""


def realnvp_cases(rng):
    train = two_moons(4000, 0.05, generator=0)
    test = two_moons(2000, 0.05, generator=int(rng.integers(2, 2**31)))
    gaussian = fl.gaussian_nll(train, test)

    def check(out):
        if int(out["n_layers"].ravel()[0]) != 8:
            return False
        layers, masks = [], []
        for k in range(8):
            state = {
                key.split(":", 1)[1]: torch.as_tensor(v)
                for key, v in out.items()
                if key.startswith(f"{k}:")
            }
            mask = state["mask"].bool()
            hidden = state["net.0.weight"].shape[0]
            if mask.shape != (2,) or int(mask.sum()) != 1 or not 1 <= hidden <= 1024:
                return False
            layer = fl.AffineCoupling(2, mask, hidden)
            layer.load_state_dict(
                {key: v.to(layer.state_dict()[key].dtype) for key, v in state.items()}, strict=True
            )
            layers.append(layer)
            masks.append(mask.tolist())
        if any(masks[k] == masks[k + 1] for k in range(7)):
            return False
        flow = fl.Flow(layers, 2).float()
        with torch.no_grad():
            nll = -flow.log_prob(torch.tensor(test, dtype=torch.float32)).mean().item()
        integral = fl.grid_integral(flow)
        if os.environ.get("COURSE_GRADER_DEBUG"):
            print("realnvp check", nll, gaussian, integral)
        return nll < gaussian - 0.5 and abs(integral - 1) < 5e-3

    return [Case({"dummy": np.int64(0)}, check)]


ITEMS = [
    Item(
        "test_coupling",
        5,
        ("StudentAffineCoupling",),
        CALL_COUPLING,
        coupling_cases,
        "StudentAffineCoupling's forward (z and log|det|) or inverse does not match the RealNVP "
        "coupling in other dimensions and masks, or forward modifies its input",
    ),
    Item(
        "test_realnvp",
        3,
        ("build_realnvp",),
        CALL_FLOW,
        realnvp_cases,
        "the trained flow does not have 8 alternating coupling layers whose density integrates "
        "to 1 and beats the Gaussian fit on fresh held-out moons by 0.5 nats",
    ),
]
