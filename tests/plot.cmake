# Plots with text (eval/plot*.c, cairo): the format by the extension, the files' signatures,
# the text and colours drawn, the segmentation overlay's legend, the CLI's early refusal.
vssm_add_test(test_plot test_plot.c)
target_compile_definitions(test_plot PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_plot vssm)
