# Training (issue 20): the backward ops against finite differences of double forwards,
# bit-identical over thread counts (kernels/BACKWARD.md).
vssm_add_test(test_ops_bwd test_ops_bwd.c)
