# VMamba backbone + classifier: parity with the PyTorch reference, ops, bad input.
vssm_add_test(test_vmamba_parity test_vmamba_parity.c)
