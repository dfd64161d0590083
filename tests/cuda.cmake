# CUDA backend: the chunked scan decomposition on the host (no GPU needed), and the GPU
# checks (label gpu; exit 77, skipped, without a GPU or without a CUDA build).
vssm_add_test(test_chunked_scan test_chunked_scan.c)
vssm_add_gpu_test(test_cuda_scan test_cuda_scan.c)
vssm_add_gpu_test(test_cuda_model test_cuda_model.c vmamba_vectors.c)
# test_ops (every op against naive double references) on the CUDA backend.
add_test(NAME test_cuda_ops COMMAND test_ops cuda)
set_tests_properties(test_cuda_ops PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
