# VMamba backbone + classifier: parity with the PyTorch reference, ops, bad input.
vssm_add_test(test_vmamba_parity test_vmamba_parity.c vmamba_vectors.c)
# the first release (v0): v0_odd in its old tensor names (gen_vmamba_v0_vectors.py)
add_test(NAME test_vmamba_v0_parity COMMAND test_vmamba_parity v0_odd v0_even)
vssm_add_test(test_vmamba_v0 test_vmamba_v0.c vmamba_vectors.c)
vssm_add_test(test_ops test_ops.c)
vssm_add_test(test_vmamba_errors test_vmamba_errors.c)
vssm_add_test(test_vmath test_vmath.c)
