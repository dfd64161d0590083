# The CPU kernels' instruction-set variants (kernels/cpu/isa.c): the choice itself, then the
# reference checks (test_ops; test_ops_bwd: the backward ops are dispatched too) and batch
# invariance (test_batch_invariance) once per variant, skipped where this CPU lacks it.
vssm_add_test(test_cpu_isa test_cpu_isa.c)
foreach(isa avx512 avx2 base)
  foreach(t test_ops test_ops_bwd test_batch_invariance)
    add_test(NAME ${t}_isa_${isa} COMMAND ${t})
    set_tests_properties(${t}_isa_${isa} PROPERTIES ENVIRONMENT VSSM_CPU_ISA=${isa}
                         SKIP_REGULAR_EXPRESSION "does not support it")
  endforeach()
endforeach()
