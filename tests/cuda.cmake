# CUDA backend: the chunked scan decomposition on the host (no GPU needed), and the GPU
# checks (label gpu; exit 77, skipped, without a GPU or without a CUDA build).
vssm_add_test(test_chunked_scan test_chunked_scan.c)
vssm_add_gpu_test(test_cuda_scan test_cuda_scan.c)
vssm_add_gpu_test(test_cuda_model test_cuda_model.c vmamba_vectors.c)
# the first VMamba release (v0: dwconv3x3_bias, mul_silu, patch_merge, d_state 16) held to the CPU
add_test(NAME test_cuda_model_v0 COMMAND test_cuda_model v0_odd v0_even)
set_tests_properties(test_cuda_model_v0 PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
# test_ops (every op against naive double references) on the CUDA backend.
add_test(NAME test_cuda_ops COMMAND test_ops cuda)
set_tests_properties(test_cuda_ops PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
