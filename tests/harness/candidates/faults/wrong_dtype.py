def custom_kernel(data):
    A, B, C = data
    return A.float() + B.float()
