# Vision Mamba (Vim): parity with the PyTorch reference (tests/reference/vim_ref.py),
# bad input and variants, the classifier on a Vim file; the same parity on CUDA.
vssm_add_test(test_vim_parity test_vim_parity.c)
vssm_add_test(test_vim_errors test_vim_errors.c)
add_test(NAME test_cuda_vim COMMAND test_vim_parity cuda)
set_tests_properties(test_cuda_vim PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
