"""Run one candidate on one benchmark case N times: the process ncu profiles for the fidelity check."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from gpu_harness.problem_loader import load_problem  # noqa: E402


def main(problem_path, candidate_path, case_name, calls):
    problem = load_problem(problem_path)
    case = next(c for c in problem.benchmarks if c.name == case_name)
    candidate = problem.load_candidate(Path(candidate_path))
    data = problem.generate(case.params)
    for _ in range(int(calls)):
        candidate.call(data)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main(*sys.argv[1:])
