# Attack: a detached helper at import, then a call that never returns: the evaluation is killed at its
# timeout (or cancelled), and the helper must die with it.
import os
import time

first = os.fork()
if first == 0:
    os.setsid()
    second = os.fork()
    if second == 0:
        time.sleep(600)
        os._exit(0)
    os.write(1, f"stray pid {second}\n".encode())
    os._exit(0)
os.waitpid(first, 0)


def custom_kernel(data):
    while True:
        time.sleep(0.1)
