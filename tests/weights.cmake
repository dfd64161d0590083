# Weights: the safe .pth reader (zip + allow-listed pickle), the safetensors writer and the
# reader's refusals, config inference, and `vssm convert` / `vssm info` end to end.
# Fixtures: tests/data/weights/ from tests/reference/gen_pth_fixtures.py (torch 1.13).
vssm_add_test(test_pth test_pth.c test_weights_util.c)
vssm_add_test(test_weights_st test_weights_st.c)
vssm_add_test(test_weights_infer test_weights_infer.c)
vssm_add_test(test_weights_open_pth test_weights_open_pth.c)
# the metadata's numbers (segmentation and preprocessing keys) range-checked on load
vssm_add_test(test_meta_bounds test_meta_bounds.c)
vssm_add_test(test_pth_full test_pth_full.c test_weights_util.c)
set_tests_properties(test_pth_full PROPERTIES LABELS slow TIMEOUT 600)

set(_wd ${VSSM_TEST_DATA}/weights)
set(_wo ${CMAKE_CURRENT_BINARY_DIR}/weights_out)
file(MAKE_DIRECTORY ${_wo})
foreach(spec
    "ckpt;ckpt_tiny.pth;ckpt_tiny.safetensors"
    "ema;ckpt_tiny.pth;ckpt_tiny_ema.safetensors;--key;model_ema"
    "fp16;plain_fp16.pth;plain_fp16.safetensors"
    "fp16_orig;plain_fp16.pth;plain_fp16_orig.safetensors;--dtype;orig"
    "mmseg;mmseg_tiny.pth;mmseg_tiny.safetensors")
  list(POP_FRONT spec tag in out)
  add_test(NAME weights_cli_convert_${tag} COMMAND vssm convert ${_wd}/${in} ${_wo}/${out} ${spec})
  set_tests_properties(weights_cli_convert_${tag} PROPERTIES FIXTURES_SETUP vssm_converted)
endforeach()
vssm_add_test(test_weights_converted test_weights_converted.c test_weights_util.c)
set_tests_properties(test_weights_converted PROPERTIES FIXTURES_REQUIRED vssm_converted
                     ENVIRONMENT VSSM_CONVERTED_DIR=${_wo})

# refusals and listings through the command line (the regex decides; exit codes are checked
# by the *_exit tests)
add_test(NAME weights_cli_convert_arch_mismatch
         COMMAND vssm convert ${_wd}/ckpt_tiny.pth ${_wo}/never.safetensors --arch vmamba-tiny)
set_tests_properties(weights_cli_convert_arch_mismatch PROPERTIES PASS_REGULAR_EXPRESSION
  "vssm: .*ckpt_tiny.pth: arch vmamba-tiny: tensor 'patch_embed.0.weight' has shape \\(1, 3, 3, 3\\) in the file, the arch needs \\(48, 3, 3, 3\\)")
add_test(NAME weights_cli_convert_evil COMMAND vssm convert ${_wd}/evil_os_system.pth ${_wo}/never.safetensors)
set_tests_properties(weights_cli_convert_evil PROPERTIES PASS_REGULAR_EXPRESSION "global 'os.system' is not on the allow-list")
add_test(NAME weights_cli_convert_evil_exit COMMAND vssm convert ${_wd}/evil_os_system.pth ${_wo}/never.safetensors)
set_tests_properties(weights_cli_convert_evil_exit PROPERTIES WILL_FAIL TRUE)
add_test(NAME weights_cli_info COMMAND vssm info ${_wd}/ckpt_tiny.pth --key model_ema)
set_tests_properties(weights_cli_info PROPERTIES PASS_REGULAR_EXPRESSION
  "inferred from shapes.*parameters: +10006 .*layers.2.blocks.1.op.x_proj_weight +F32 +\\(4, 3, 16\\)")
add_test(NAME weights_cli_info_converted COMMAND vssm info ${_wo}/ckpt_tiny.safetensors --no-tensors)
set_tests_properties(weights_cli_info_converted PROPERTIES FIXTURES_REQUIRED vssm_converted
                     PASS_REGULAR_EXPRESSION "from metadata.*depths 1,1,2,1.*source +ckpt_tiny.pth")

# files from strangers that once crashed, read out of bounds or hit UB (issue 16), and
# `vssm convert` refusing what `vssm classify` would: tests/data/weights/fuzz_regress/
vssm_add_test(test_weights_fuzz_regress test_weights_fuzz_regress.c)
target_compile_definitions(test_weights_fuzz_regress PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_weights_fuzz_regress vssm)
