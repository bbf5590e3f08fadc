"""Every problem's reference is self-consistent: seeded, deterministic, accepted by its own checker,
and its tests cover the shapes that break kernels (non-powers of two, tails)."""

from __future__ import annotations

import math

import pytest
import torch

from gpu_harness.problem_loader import load_problem
from tests.kernels.library import KERNELS, PROBLEMS


def _leaves(data) -> list[torch.Tensor]:
    return [data] if isinstance(data, torch.Tensor) else [t for t in data if isinstance(t, torch.Tensor)]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.uint8) if t.dtype.itemsize == 1 else t


def _same(a, b, skip=()) -> bool:
    """Same tensors (bitwise, float8 included), leaves at positions in `skip` (output buffers) aside."""
    pairs = [(x, y) for i, (x, y) in enumerate(zip(_leaves(a), _leaves(b))) if i not in skip]
    return len(_leaves(a)) == len(_leaves(b)) and all(
        x.dtype == y.dtype and x.shape == y.shape and torch.equal(_bits(x), _bits(y)) for x, y in pairs
    )


def _unread(problem, data) -> set[int]:
    """Leaves the reference does not read: scrambling them leaves its answer bitwise unchanged."""
    expected = problem.reference(data)
    unread = set()
    for i, leaf in enumerate(_leaves(data)):
        saved = leaf.clone()
        _bits(leaf).copy_(
            torch.randint_like(_bits(leaf), 0, 100)
            if _bits(leaf).dtype == torch.uint8
            else torch.full_like(leaf, float("nan"))
        )
        if torch.equal(problem.reference(data), expected):
            unread.add(i)
        leaf.copy_(saved)
    return unread


def test_the_library_holds_the_six_problems():
    assert set(PROBLEMS) >= {"vectoradd", "softmax", "rmsnorm", "matmul", "prefix_sum", "nvfp4_gemv"}


@pytest.mark.parametrize("name", PROBLEMS)
def test_every_case_has_a_seed_and_the_tests_include_an_awkward_size(name):
    problem = load_problem(KERNELS / name)
    assert all("seed" in c.params for c in problem.tests + problem.benchmarks)
    sizes = [v for c in problem.tests for k, v in c.params.items() if k != "seed" and isinstance(v, int)]
    assert any(v & (v - 1) for v in sizes if v > 1), f"{name}: no test size that is not a power of two"
    assert len(problem.task["benchmarks"]) >= 2


@pytest.mark.parametrize("name", PROBLEMS)
def test_reference_is_seeded_deterministic_and_passes_its_own_check(name):
    problem = load_problem(KERNELS / name)
    for case in problem.tests:
        data = problem.generate(case.params)
        assert all(t.device.type == "cpu" for t in _leaves(data))  # picks the CPU when there is no GPU
        buffers = _unread(problem, data)
        assert len(buffers) <= 1 and buffers <= {len(_leaves(data)) - 1}, (
            f"{case.params}: only a last output buffer may go unread, not inputs {buffers}"
        )
        assert _same(data, problem.generate(case.params), buffers), (
            f"{case.params}: same seed, different data"
        )
        first, second = problem.reference(data), problem.reference(data)
        assert torch.equal(first, second), f"{case.params}: the reference is not deterministic"
        assert torch.isfinite(first.float()).all()
        verdict = problem.own_check(data, first)
        assert verdict is None or verdict[0], f"{case.params}: its own check rejects the reference: {verdict}"
    one, other = (
        problem.tests[-1].params,
        dict(problem.tests[-1].params, seed=problem.tests[-1].params["seed"] + 1),
    )
    assert not _same(problem.generate(one), problem.generate(other), buffers), "the seed changes nothing"


def test_softmax_hands_in_an_output_buffer_that_the_reference_ignores():
    problem = load_problem(KERNELS / "softmax")
    for dtype in ("float32", "bfloat16"):
        x, out = problem.generate({"rows": 5, "cols": 33, "dtype": dtype, "seed": 1})
        assert out.shape == x.shape and out.dtype == x.dtype == getattr(torch, dtype)
        expected = problem.reference((x, out))
        out.fill_(float("nan"))
        assert torch.equal(problem.reference((x, out)), expected)  # the buffer is never read
        assert torch.allclose(expected.float().sum(-1), torch.ones(5), atol=1e-2)


def test_prefix_sum_check_scales_its_tolerance_with_sqrt_n():
    problem = load_problem(KERNELS / "prefix_sum")
    x = problem.generate({"size": 10_000, "seed": 3})
    exact = torch.cumsum(x.double(), 0).float()
    tol = 1e-5 * math.sqrt(x.numel())
    assert problem.own_check(x, exact + 0.5 * tol)[0]
    good, message = problem.own_check(x, exact + 3 * tol)
    assert not good and "rtol=atol=" in message
    assert not problem.own_check(x, exact[:-1])[0]


def test_nvfp4_reference_decodes_e2m1_codes_and_scales():
    problem = load_problem(KERNELS / "nvfp4_gemv")
    dequantize = problem._reference().dequantize
    codes = torch.arange(16, dtype=torch.uint8)
    packed = (codes[0::2] | (codes[1::2] << 4))[None]  # 16 values, two per byte
    scale = torch.tensor([[2.0]]).to(torch.float8_e4m3fn)
    values = dequantize(packed, scale)[0]
    assert values.tolist() == [
        2 * v for v in (0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6)
    ]
