# --precision bf16 on the CPU (kernels/cpu/sgemm_bf16.c): both kernels, skipped without avx512_bf16
vssm_add_test(test_bf16 test_bf16.c)
# whole models at bf16: the official-layout parity files against their float64 logits, VMamba-T vs fp32
vssm_add_test(test_bf16_models test_bf16_models.c vmamba_vectors.c vim_vectors.c)
