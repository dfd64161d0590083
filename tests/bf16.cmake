# --precision bf16 on the CPU (kernels/cpu/sgemm_bf16.c): both kernels, skipped without avx512_bf16
vssm_add_test(test_bf16 test_bf16.c)
# whole models at bf16: the official-layout parity files against their float64 logits, VMamba-T vs fp32
vssm_add_test(test_bf16_models test_bf16_models.c vmamba_vectors.c vim_vectors.c)
# whether CMake found the compiler able to build the bf16 kernels (CMakeLists.txt): where it did
# and the CPU has avx512_bf16, a refusal fails these tests (test_cpu_runs_bf16); a compiler
# without the flags (GCC < 11) makes a build that refuses bf16 by design, and they skip
if(VSSM_CC_HAS_AMX_BF16)
  target_compile_definitions(test_bf16 PRIVATE VSSM_TEST_BF16_BUILT=1)
  target_compile_definitions(test_bf16_models PRIVATE VSSM_TEST_BF16_BUILT=1)
endif()
