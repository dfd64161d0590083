# Layers only look down (kernels < weights < datasets < backbone < heads < eval < tools):
# a static check of every #include in the library and tools folders.
find_program(VSSM_PYTHON3 NAMES python3)
if(VSSM_PYTHON3)
  add_test(NAME test_include_layers COMMAND ${VSSM_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/check_layers.py ${CMAKE_SOURCE_DIR})
endif()
