def custom_kernel(data):
    raise ValueError("the candidate gave up")
