"""Checks every public function of course_lib must pass, in the spirit of scikit-learn's
``check_estimator``. The cases live in ``tests/cases_<module>.py``, one file per module; each
file may define

- ``STOCHASTIC``: {name: call(seed) -> output} or {name: (setup() -> args, call(seed, *args))}.
  The same seed must give the same output, two seeds different outputs, and the global random
  state must be left alone (``setup``, which may build a model, runs before that check).
- ``DEVICE``: {name: (setup() -> args, call(*args) -> output)}. ``setup`` builds float64 inputs
  and models on the CPU; ``call`` then runs with ``torch.set_default_device("meta")`` in force,
  so a tensor created without an explicit device lands on ``meta`` and the mixture raises. Every
  floating tensor in the output must be on the CPU in float64.
- ``BAD_INPUTS``: [(name, call(), exception type, text the message must contain)].
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import random

import numpy as np
import pytest
import torch

CASE_MODULES = sorted(p.stem for p in pathlib.Path(__file__).parent.glob("cases_*.py"))


def _collect(attribute: str) -> list:
    found = []
    for module_name in CASE_MODULES:
        module = importlib.import_module(module_name)
        table = getattr(module, attribute, {})
        found += list(table.items()) if isinstance(table, dict) else list(table)
    return found


def _leaves(output) -> list:
    """The arrays and tensors inside an output (tuples, lists, dicts, dataclasses, modules)."""
    if torch.is_tensor(output) or isinstance(output, np.ndarray):
        return [output]
    if isinstance(output, torch.nn.Module):
        return list(output.state_dict().values())
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        output = [getattr(output, f.name) for f in dataclasses.fields(output)]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [leaf for item in output for leaf in _leaves(item)]
    if isinstance(output, (int, float, np.number)):
        return [np.asarray(output)]
    return []


def _as_numpy(leaf) -> np.ndarray:
    return leaf.detach().cpu().numpy() if torch.is_tensor(leaf) else np.asarray(leaf)


def _same(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    assert la, "the case returned nothing comparable"
    return len(la) == len(lb) and all(
        np.array_equal(_as_numpy(x), _as_numpy(y), equal_nan=True)
        for x, y in zip(la, lb, strict=True)
    )


def _global_state():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


@pytest.mark.parametrize(
    "name, call", _collect("STOCHASTIC"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_same_generator_same_result_and_no_global_reseeding(name, call):
    setup, call = call if isinstance(call, tuple) else (tuple, call)
    inputs = [setup() for _ in range(3)]
    before = _global_state()
    first, again, other = (call(seed, *args) for seed, args in zip((1, 1, 2), inputs, strict=True))
    after = _global_state()
    assert _same(first, again), f"{name}: the same generator gave different results"
    assert not _same(first, other), f"{name}: two generators gave the same result"
    assert torch.equal(before[0], after[0]), f"{name} used or reseeded torch's global generator"
    assert np.array_equal(before[1], after[1]), f"{name} used or reseeded numpy's global state"
    assert before[2] == after[2], f"{name} used or reseeded Python's random module"


@pytest.mark.parametrize(
    "name, case", _collect("DEVICE"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_tensors_follow_the_inputs_device_and_dtype(name, case):
    setup, call = case
    args = setup()
    torch.set_default_device("meta")
    try:
        output = call(*args)
    finally:
        torch.set_default_device(None)
    for leaf in _leaves(output):
        if torch.is_tensor(leaf):
            assert leaf.device.type == "cpu", f"{name}: output on {leaf.device}"
            if leaf.is_floating_point():
                assert leaf.dtype == torch.float64, f"{name}: output in {leaf.dtype}"


@pytest.mark.parametrize(
    "name, call, error, text", _collect("BAD_INPUTS"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_bad_input_raises_a_clear_error_naming_the_argument(name, call, error, text):
    with pytest.raises(error) as caught:
        call()
    assert text in str(caught.value), f"{name}: message {caught.value!r} does not name {text!r}"


LIBRARY = pathlib.Path(__file__).parents[1] / "course_lib"


@pytest.mark.parametrize("module_name", sorted(p.stem for p in LIBRARY.glob("[!_]*.py")))
def test_every_module_lists_its_public_names(module_name):
    """``__all__`` names exactly the module's own public functions, classes and constants."""
    import inspect

    module = importlib.import_module(f"course_lib.{module_name}")
    assert hasattr(module, "__all__"), f"course_lib.{module_name} has no __all__"
    own = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }
    missing = own - set(module.__all__)
    assert not missing, f"course_lib.{module_name}.__all__ lacks {sorted(missing)}"
    unknown = [name for name in module.__all__ if not hasattr(module, name)]
    assert not unknown, f"course_lib.{module_name}.__all__ names missing objects {unknown}"
