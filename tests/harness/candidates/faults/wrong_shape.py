import torch


def custom_kernel(data):
    A, B, C = data
    return (A + B)[:-1]
