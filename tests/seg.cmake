# Semantic segmentation (heads/seg*.c, eval/seg_metrics.c, datasets/seg.c, tools/cmd_segment.c,
# tools/eval_seg.c); reference vectors: tests/reference/gen_seg_vectors.py -> tests/data/seg/.
foreach(t metrics head pipeline)
  vssm_add_test(test_seg_${t} test_seg_${t}.c)
  set_tests_properties(test_seg_${t} PROPERTIES LABELS seg)
endforeach()
vssm_add_test(test_seg_cli test_seg_cli.c)
target_compile_definitions(test_seg_cli PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_seg_cli vssm)
set_tests_properties(test_seg_cli PROPERTIES LABELS seg)
# the CLI contract of segment / eval seg: outputs never over inputs, option values, exit codes, Ctrl-C
vssm_add_test(test_seg_guard test_seg_guard.c)
target_compile_definitions(test_seg_guard PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_seg_guard vssm)
set_tests_properties(test_seg_guard PROPERTIES LABELS seg)
