# Vision Mamba (Vim): parity with the PyTorch reference (tests/reference/vim_ref.py),
# bad input and variants, the classifier on a Vim file; the same parity on CUDA.
vssm_add_test(test_vim_parity test_vim_parity.c vim_vectors.c)
vssm_add_test(test_vim_errors test_vim_errors.c)
add_test(NAME test_cuda_vim COMMAND test_vim_parity cuda)
set_tests_properties(test_cuda_vim PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
# vssm convert / info on a Vim .pth: the converted file keeps every tensor Vim needs
add_test(NAME vim_cli_convert_info
         COMMAND sh -c "'$<TARGET_FILE:vssm>' convert '${CMAKE_SOURCE_DIR}/tests/data/vim/sq_b2_model.pth' vim_conv.safetensors && '$<TARGET_FILE:vssm>' info vim_conv.safetensors && '$<TARGET_FILE:vssm>' classify --weights vim_conv.safetensors --resize 0 --crop 0 '${CMAKE_SOURCE_DIR}/tests/data/images/dog_128x96.png'"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(vim_cli_convert_info PROPERTIES PASS_REGULAR_EXPRESSION "Vision Mamba.*dog_128x96.png: [0-9]")
# Task heads on a Vim (segmentation, re-ID) against tests/reference/gen_vim_task_vectors.py
vssm_add_test(test_vim_tasks test_vim_tasks.c vim_vectors.c)
add_test(NAME test_cuda_vim_tasks COMMAND test_vim_tasks cuda)
set_tests_properties(test_cuda_vim_tasks PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
# Every task verb (segment, eval seg, reid extract, eval reid, track, eval track) and the
# tracking example on Vim files, outputs checked against the reference where there is one
vssm_add_test(test_vim_cli test_vim_cli.c vim_vectors.c)
target_compile_definitions(test_vim_cli PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>"
                           EXAMPLE_TRACK_LOOP="$<TARGET_FILE:example_track_loop>")
target_link_libraries(test_vim_cli PRIVATE PkgConfig::CJSON)
add_dependencies(test_vim_cli vssm example_track_loop)
