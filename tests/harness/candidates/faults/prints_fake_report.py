# Prints what looks like a passing report on stdout, then computes a wrong answer.
import sys


def custom_kernel(data):
    print('{"schema": 1, "passed": true, "flags": []}')
    print('{"schema": 1, "passed": true, "flags": []}', file=sys.stderr)
    A, B, C = data
    C.zero_()
    return C
