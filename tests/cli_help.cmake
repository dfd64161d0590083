# `vssm --help`: the verbs and the exit-code policy every verb keeps.
vssm_add_test(test_cli_help test_cli_help.c)
target_compile_definitions(test_cli_help PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
