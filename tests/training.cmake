# Training (issue 20): the backward ops against finite differences of double forwards,
# bit-identical over thread counts (kernels/BACKWARD.md).
vssm_add_test(test_ops_bwd test_ops_bwd.c)
# the VMamba classifier's whole-model backward (train/) and the optimizer against PyTorch
vssm_add_test(test_train_vmamba test_train_vmamba.c vmamba_vectors.c)
vssm_add_test(test_train_optim test_train_optim.c)
# the Vim classifier's whole-model backward against PyTorch
vssm_add_test(test_train_vim test_train_vim.c vim_vectors.c)
# `vssm train` end to end on the shipped Fashion-MNIST model: --resume bit-exact, the output read
# by vssm classify / eval classify as is, a linear probe's new head, the augmentation
vssm_add_test(test_train_cli test_train_cli.c)
target_compile_definitions(test_train_cli PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_train_cli PRIVATE PkgConfig::CJSON)
add_dependencies(test_train_cli vssm)
# `vssm train` on a Vim file: a tiny Vim on the Fashion-MNIST samples (resume, threads, probe, classify)
vssm_add_test(test_train_vim_cli test_train_vim_cli.c)
target_compile_definitions(test_train_vim_cli PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_train_vim_cli vssm)
# `vssm train` refusing up front what it cannot do well (options, outputs, data folders, checkpoints),
# stopping at a non-finite loss, and Ctrl-C during a checkpoint write leaving no temp file
vssm_add_test(test_train_errors test_train_errors.c)
target_compile_definitions(test_train_errors PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_train_errors vssm)
