# The mutant catalogue (tests/mutants/mutants.json, tools/mutants.py: ~20 minutes, not in
# CTest) still applies to the code: each mutant's text occurs once in its file. A mutant
# whose code moved tests nothing (gemm_r7 was stale from bbb4692 until session 28, unseen).
find_program(VSSM_PYTHON3 NAMES python3)
if(VSSM_PYTHON3)
  add_test(NAME test_mutants_apply COMMAND ${VSSM_PYTHON3} ${CMAKE_SOURCE_DIR}/tools/mutants.py --check)
endif()
