# `vssm convert` on every shipped model (weights/fashion_mnist, reid_demo, seg_demo): the
# metadata it does not own, the tensors, and classify / reid extract / segment results are
# identical before and after (issue 18).
vssm_add_test(test_convert_shipped test_convert_shipped.c)
target_compile_definitions(test_convert_shipped PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_convert_shipped vssm)
# `convert` IN IN refused, OUT checked first, --key on a safetensors file refused (convert, info).
vssm_add_test(test_convert_guards test_convert_guards.c)
target_compile_definitions(test_convert_guards PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_convert_guards vssm)
