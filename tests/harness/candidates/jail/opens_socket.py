# Attack: at import, open IPv4 and IPv6 sockets (to send the inputs somewhere, or fetch an answer); the
# kernel is honest. The candidate says whether the network was refused.
import socket

import torch

for family in (socket.AF_INET, socket.AF_INET6):
    try:
        socket.socket(family, socket.SOCK_DGRAM).close()
        print(f"socket {family.name} opened")
    except OSError as exc:
        print(f"socket {family.name} refused: {exc.strerror}")


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
