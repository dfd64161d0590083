# The CPU kernels' instruction-set variants (kernels/cpu/isa.c): the choice itself, then the
# reference checks (test_ops; test_ops_bwd: the backward ops are dispatched too), batch
# invariance (test_batch_invariance) and the whole-model backward against autograd with its
# thread and chunk invariance (test_train_vmamba, test_train_vim: under QEMU, tools/ci_cpus.sh,
# the first leaves out its largest chunk case) once per variant, skipped where this CPU lacks it.
vssm_add_test(test_cpu_isa test_cpu_isa.c)
foreach(isa avx512 avx2 base)
  foreach(t test_ops test_ops_bwd test_batch_invariance test_train_vmamba test_train_vim)
    add_test(NAME ${t}_isa_${isa} COMMAND ${t})
    set_tests_properties(${t}_isa_${isa} PROPERTIES ENVIRONMENT VSSM_CPU_ISA=${isa}
                         SKIP_REGULAR_EXPRESSION "does not support it")
  endforeach()
endforeach()

# No AVX/AVX2 masked move in the built code: GCC makes them of tests inside vectorised loops,
# and their masked-off lanes name addresses outside the buffers (tests/check_masked_loads.py)
find_program(VSSM_PYTHON3 NAMES python3)
if(VSSM_PYTHON3 AND CMAKE_OBJDUMP)
  add_test(NAME test_masked_loads COMMAND ${VSSM_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/check_masked_loads.py
           ${CMAKE_OBJDUMP} $<TARGET_FILE:vssm_shared> $<TARGET_FILE:vssm>)
endif()
