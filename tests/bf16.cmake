# --precision bf16 on the CPU (kernels/cpu/sgemm_bf16.c): both kernels, skipped without avx512_bf16
vssm_add_test(test_bf16 test_bf16.c)
