# Batch invariance, bit for bit (kernels/cpu/sgemm.c), under the CPU kernels OpenBLAS may
# pick on other machines: the forward must not depend on any of them.
vssm_add_test(test_batch_invariance test_batch_invariance.c)
foreach(core Haswell Zen SkylakeX Sandybridge Prescott)
  add_test(NAME test_batch_invariance_${core} COMMAND test_batch_invariance)
  set_tests_properties(test_batch_invariance_${core} PROPERTIES ENVIRONMENT OPENBLAS_CORETYPE=${core})
endforeach()
# Thread invariance of a context that picks each pass's thread count (vssm_ctx_opts.adapt_threads)
vssm_add_test(test_adapt_threads test_adapt_threads.c)
# alone: its round-trip probe needs both cores at once for a moment, and under ctest -j2 with
# QEMU the other test's threads kept one of them busy through 200 tries (CI, session 19)
set_tests_properties(test_adapt_threads PROPERTIES RUN_SERIAL TRUE)
