"""The Triton scan's decoupled look-back, driven by hand: the harness on the CPU runs tiles one after
another, so a tile always finds its predecessor's prefix at once. Here the words of earlier tiles are
laid out as a GPU would leave them (tile sums, one inclusive prefix somewhere) and one tile must add
its way back across several look-back windows."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from tests.kernels.library import KERNELS

BLOCK = 16


@pytest.fixture(scope="module")
def scan():
    mp = pytest.MonkeyPatch()
    mp.setenv("TRITON_INTERPRET", "1")
    mp.syspath_prepend(str(KERNELS / "prefix_sum"))  # its `from task import ...`
    spec = importlib.util.spec_from_file_location(
        "prefix_sum_triton", KERNELS / "prefix_sum" / "examples" / "submission_triton.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    mp.undo()
    sys.modules.pop("prefix_sum_triton", None)


def _word(value: float, state: int) -> int:
    return int((torch.tensor([value], dtype=torch.float64).view(torch.int64) & -4) | state)


@pytest.mark.parametrize("tiles,prefix_at", [(100, 0), (100, 40), (100, 99), (33, 0), (31, 5)])
def test_a_tile_adds_published_sums_back_to_the_latest_prefix(scan, tiles, prefix_at):
    sums = torch.arange(tiles, dtype=torch.float64) * 0.5 + 1
    words = torch.zeros(tiles + 2, dtype=torch.int64)
    for i in range(tiles):
        words[i] = _word(float(sums[: i + 1].sum()), 2) if i == prefix_at else _word(float(sums[i]), 1)
    words[tiles + 1] = tiles  # the tile counter: this program gets tile `tiles`
    n = (tiles + 1) * BLOCK
    x = torch.zeros(n)
    x[tiles * BLOCK :] = 1.0
    y = torch.full((n,), float("nan"))
    scan.scan_kernel[(1,)](x, y, words, words[tiles + 1 :], n, BLOCK=BLOCK, WINDOW=scan.WINDOW)
    before = float(sums.sum())
    assert y[tiles * BLOCK :].tolist() == [before + i + 1 for i in range(BLOCK)]
    assert int(words[tiles]) & 3 == 2  # and it published its own inclusive prefix
