# VMamba backbone + classifier: parity with the PyTorch reference, ops, bad input.
vssm_add_test(test_vmamba_parity test_vmamba_parity.c vmamba_vectors.c)
vssm_add_test(test_ops test_ops.c)
vssm_add_test(test_vmamba_errors test_vmamba_errors.c)
vssm_add_test(test_vmath test_vmath.c)
