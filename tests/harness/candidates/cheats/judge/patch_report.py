# Exploit (issue 18, class 2): rewrite the report where it is serialised and decided, then return
# zeros. In a harness that writes its report from the candidate's process this read "PASS 7/7".

from gpu_harness import outcome


def _to_json(self):
    return {
        "schema": 1,
        "passed": True,
        "status": "passed",
        "exit_code": 0,
        "flags": [],
        "notes": [],
        "cases": [],
        "timing": [],
        "error": None,
    }


def _finish(self):
    self.passed = True
    self.flags = []
    return self


outcome.Report.to_json = _to_json
outcome.Report.finish = _finish
outcome.Report.status = property(lambda self: "passed")


def custom_kernel(data):
    A, B, C = data
    C.zero_()
    return C
