"""The adaptive stopping rule and summaries, on synthetic sequences (no GPU, no timing)."""

import math
import random

from gpu_harness.stopping import (
    MIN_SAMPLES,
    StoppingRule,
    relative_se_of_median,
    summarise,
)


def test_rule_never_stops_before_the_minimum_number_of_samples():
    rule = StoppingRule(min_samples=10, target_rse=0.5)
    for _ in range(9):
        rule.add(1.0)
        assert not rule.done()
    rule.add(1.0)
    assert rule.done() and rule.reason() == "precision"


def test_rule_stops_on_a_steady_sequence_once_precise():
    rule = StoppingRule()
    rng = random.Random(1)
    n = 0
    while not rule.done():
        rule.add(100.0 + rng.gauss(0, 0.5))
        n += 1
    assert MIN_SAMPLES <= n < 50
    assert rule.rse() < 0.005


def test_rule_keeps_sampling_a_noisy_sequence_until_max_samples():
    rule = StoppingRule(max_samples=200)
    rng = random.Random(2)
    while not rule.done():
        rule.add(rng.choice([1.0, 10.0, 100.0]))
    assert rule.reason() == "max_samples"
    assert len(rule.samples) == 200


def test_relative_se_of_median_is_infinite_for_too_few_samples_and_zero_for_constant_ones():
    assert relative_se_of_median([1.0]) == math.inf
    assert relative_se_of_median([2.0] * 20) == 0.0


def test_rse_shrinks_as_samples_accumulate():
    rng = random.Random(3)
    samples = [10 + rng.gauss(0, 1) for _ in range(1000)]
    assert relative_se_of_median(samples[:20]) > relative_se_of_median(samples)


def test_summary_reports_median_and_percentiles():
    s = summarise([float(x) for x in range(1, 102)])
    assert s.median_ms == 51.0 and s.n == 101
    assert s.p10_ms == 11.0 and s.p90_ms == 91.0
