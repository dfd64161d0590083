# Batch invariance, bit for bit (kernels/cpu/sgemm.c), under the CPU kernels OpenBLAS may
# pick on other machines: the forward must not depend on any of them.
vssm_add_test(test_batch_invariance test_batch_invariance.c)
foreach(core Haswell Zen SkylakeX Sandybridge Prescott)
  add_test(NAME test_batch_invariance_${core} COMMAND test_batch_invariance)
  set_tests_properties(test_batch_invariance_${core} PROPERTIES ENVIRONMENT OPENBLAS_CORETYPE=${core})
endforeach()
# Thread invariance of a context that picks each pass's thread count (vssm_ctx_opts.adapt_threads)
vssm_add_test(test_adapt_threads test_adapt_threads.c)
