# Training (issue 20): the backward ops against finite differences of double forwards,
# bit-identical over thread counts (kernels/BACKWARD.md).
vssm_add_test(test_ops_bwd test_ops_bwd.c)
# the VMamba classifier's whole-model backward (train/) and the optimizer against PyTorch
vssm_add_test(test_train_vmamba test_train_vmamba.c vmamba_vectors.c)
vssm_add_test(test_train_optim test_train_optim.c)
