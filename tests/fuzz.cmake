# Fuzz harnesses (tests/fuzz/fuzz_<target>.c), built only with -DVSSM_FUZZ=ON (clang); see
# tests/fuzz/README.md. `cmake --build B --target fuzz` builds them all as B/fuzz_<target>.
if(VSSM_FUZZ)
  set(VSSM_FUZZ_TARGETS image safetensors pth model track reid seg)
  add_custom_target(fuzz)
  foreach(t ${VSSM_FUZZ_TARGETS})
    add_executable(fuzz_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.c)
    target_link_libraries(fuzz_${t} PRIVATE vssm_static)
    target_include_directories(fuzz_${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
    add_dependencies(fuzz fuzz_${t})
  endforeach()
endif()
