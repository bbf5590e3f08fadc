"""Comparison, diagnosis of failures, tolerances, and learning which inputs are output buffers."""

import torch

from gpu_harness import buffers, check


def test_nan_where_the_reference_has_nan_is_a_match():
    e = torch.tensor([1.0, float("nan"), float("inf")])
    assert check.compare(e.clone(), e).passed


def test_nan_where_the_reference_has_a_number_is_a_mismatch():
    e = torch.ones(8)
    g = e.clone()
    g[3] = float("nan")
    result = check.compare(g, e)
    assert not result.passed and result.mismatches == 1
    assert result.first_mismatches[0]["index"] == [3]


def test_infinity_of_the_wrong_sign_is_a_mismatch():
    e = torch.tensor([float("inf")])
    assert not check.compare(-e, e).passed


def test_a_finite_answer_where_the_reference_is_infinite_is_a_mismatch_both_ways():
    """The quick path (every element within tolerance) must not take inf <= atol + rtol * inf for a match."""
    e = torch.tensor([1.0, float("inf")])
    g = torch.tensor([1.0, 3.0e38])
    assert not check.compare(g, e).passed and check.compare(g, e).mismatches == 1
    assert not check.compare(e, g).passed


def test_the_quick_path_reports_the_same_errors_as_the_full_one():
    e = torch.linspace(-2.0, 2.0, 4097)
    g = e + 1e-6
    quick = check.compare(g, e)
    g[7] = float("nan")  # one bad element: this chunk takes the full path
    full = check.compare(g, e)
    assert quick.passed and not full.passed and full.mismatches == 1
    assert quick.max_abs_err == full.max_abs_err and quick.max_rel_err == full.max_rel_err


def test_default_tolerance_depends_on_dtype():
    assert check.tolerance_for(torch.float32, None, None) == (1e-4, 1e-5)
    assert check.tolerance_for(torch.float16, None, None) == (1e-2, 1e-2)
    assert check.tolerance_for(torch.int32, None, None) == (0.0, 0.0)
    assert check.tolerance_for(torch.float32, 1e-3, None) == (1e-3, 1e-5)


def test_wrong_shape_dtype_and_type_are_named():
    e = torch.ones(4, 4)
    assert check.compare(torch.ones(4, 3), e).reason == check.REASON_WRONG_SHAPE
    assert check.compare(torch.ones(4, 4, dtype=torch.float64), e).reason == check.REASON_WRONG_DTYPE
    assert check.compare([1.0], e).reason == check.REASON_NOT_A_TENSOR


def test_small_widespread_errors_are_diagnosed_as_precision_loss():
    e = torch.softmax(torch.randn(64, 256), dim=-1)
    g = e.to(torch.bfloat16).to(torch.float32)
    result = check.compare(g, e)
    assert not result.passed and result.reason == check.REASON_PRECISION_LOSS


def test_poison_left_in_half_the_output_is_diagnosed_as_partial_output():
    e = torch.randn(16, 16)
    g = e.clone()
    check.poison(g[8:])
    result = check.compare(g, e)
    assert result.reason == check.REASON_PARTIAL_OUTPUT and result.mismatches == 128


def test_output_buffers_are_learned_from_the_reference():
    def ref(data):
        a, b, c = data
        torch.add(a, b, out=c)
        return c

    data = (torch.randn(4), torch.randn(4), torch.empty(4))
    plan = buffers.learn_buffers(data, ref)
    assert plan.writable == {2} and plan.poisonable == {2}


def test_an_input_the_reference_ignores_is_an_output_buffer_though_it_writes_nothing():
    # GPU MODE's matmul: generate_input returns (a, b, c = torch.empty), ref_kernel returns a @ b.
    def ref(data):
        a, b, _c = data
        return a @ b

    plan = buffers.learn_buffers((torch.randn(4, 4), torch.randn(4, 4), torch.empty(4, 4)), ref)
    assert plan.poisonable == {2} and plan.writable == {2}


def test_inputs_the_reference_reads_are_never_output_buffers():
    def ref(data):
        x, y = data
        return x * 0 + y  # reads x: NaN in x shows in the output

    plan = buffers.learn_buffers((torch.randn(4), torch.randn(4)), ref)
    assert plan.poisonable == set() and plan.writable == set()


def test_an_accumulating_buffer_is_writable_but_not_poisonable():
    def ref(data):
        x, acc = data
        acc += x
        return acc

    plan = buffers.learn_buffers((torch.randn(4), torch.ones(4)), ref)
    assert plan.writable == {1} and plan.poisonable == set()


def test_shares_memory_sees_views():
    t = torch.zeros(10)
    assert check.shares_memory(t[2:5], t)
    assert not check.shares_memory(t.clone(), t)


def test_a_multi_gigabyte_comparison_is_chunked_and_still_exact():
    e = torch.randn(3 * check.COMPARE_CHUNK // 2 + 7)
    g = e.clone()
    g[-1] += 1.0
    g[5] = float("nan")
    result = check.compare(g, e)
    assert result.mismatches == 2 and [m["index"] for m in result.first_mismatches] == [[5], [e.numel() - 1]]


def test_integer_inputs_are_probed_with_values_in_range_so_indices_stay_valid():
    seen = []

    def ref(data):
        table, index, out = data
        seen.append(int(index.max()))  # out of range: on a GPU a device-side assert kills the context
        return table[index.clamp(0, 9)]

    data = (torch.randn(10), torch.randint(0, 10, (6,)), torch.empty(6, dtype=torch.int64))
    plan = buffers.learn_buffers(data, ref)
    assert plan.poisonable == {2}  # the index is read; the int64 buffer is not
    assert max(seen) < 10


def test_a_fingerprint_sees_one_changed_element_anywhere_and_sums_its_bytes_a_chunk_at_a_time():
    """The replay probe's stand-in for a whole answer: its byte sum is taken in chunks (widened whole to
    int64, a 6.4 GB output would need 51 GB) and still counts every byte."""
    from gpu_harness.check import FINGERPRINT_CHUNK, _byte_sum, fingerprint

    answer = torch.rand(FINGERPRINT_CHUNK // 2 + 7)  # twice the chunk in bytes, and a ragged end
    flat = answer.view(torch.uint8)
    assert _byte_sum(flat) == int(flat.to(torch.int64).sum())
    changed = answer.clone()
    changed[-1] += 1.0  # in the strided sample or not, the byte sum sees it
    assert fingerprint(answer) == fingerprint(answer.clone())
    assert fingerprint(answer) != fingerprint(changed)
    assert fingerprint((answer, 3)) == fingerprint(answer)  # only tensors count
