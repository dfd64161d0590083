# VMamba backbone + classifier: parity with the PyTorch reference, ops, bad input.
vssm_add_test(test_vmamba_parity test_vmamba_parity.c vmamba_vectors.c)
# the first release (v0): v0_odd in its old tensor names (gen_vmamba_v0_vectors.py)
add_test(NAME test_vmamba_v0_parity COMMAND test_vmamba_parity v0_odd v0_even)
vssm_add_test(test_vmamba_v0 test_vmamba_v0.c vmamba_vectors.c)
vssm_add_test(test_ops test_ops.c)
vssm_add_test(test_vmamba_errors test_vmamba_errors.c)
vssm_add_test(test_vmath test_vmath.c)
# again with FMA and AVX-512 (the scans' forms that exist only there), skipped on CPUs without them
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|i.86")
  vssm_add_test(test_vmath_avx512 test_vmath.c)
  target_compile_options(test_vmath_avx512 PRIVATE -mavx2 -mfma -mavx512f -mavx512bw -mavx512dq -mavx512vl)
  set_tests_properties(test_vmath_avx512 PROPERTIES SKIP_RETURN_CODE 77)
endif()
# vssm info / convert / classify / bench on the first release: the old-names file converts, is
# reported as forward type v0, classifies at its own size; bench --arch takes the v0 presets
add_test(NAME vmamba_v0_cli
         COMMAND sh -c "'$<TARGET_FILE:vssm>' convert '${CMAKE_SOURCE_DIR}/tests/data/vmamba/v0_odd.safetensors' v0_conv.safetensors && '$<TARGET_FILE:vssm>' info --no-tensors v0_conv.safetensors && '$<TARGET_FILE:vssm>' classify --weights v0_conv.safetensors --resize 0 --crop 0 '${CMAKE_SOURCE_DIR}/tests/data/images/dog_128x96.png' && '$<TARGET_FILE:vssm>' bench --arch vmamba-v0-tiny --size 32 --runs 1 --warmup 0 --no-gemm-ref --threads 1"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(vmamba_v0_cli PROPERTIES PASS_REGULAR_EXPRESSION
                     "forward_type v0.*dog_128x96.png: [0-9].*model +vmamba-v0-tiny, 22893448 params")
