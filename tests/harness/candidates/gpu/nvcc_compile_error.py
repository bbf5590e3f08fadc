from torch.utils.cpp_extension import load_inline

cuda_sources = r"""
__global__ void add_kernel(const float* a, float* c) { c[threadIdx.x] = a[threadIdx.x] + undefined_symbol; }
torch::Tensor add(torch::Tensor a) { return a; }
"""
_module = load_inline(
    name="bifrost_broken_add",
    cpp_sources="torch::Tensor add(torch::Tensor a);",
    cuda_sources=cuda_sources,
    functions=["add"],
    verbose=False,
)


def custom_kernel(data):
    return _module.add(data[0])
