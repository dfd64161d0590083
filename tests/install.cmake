# Packaging: libvssm.so exports exactly the public API (VSSM_API, -fvisibility=hidden).
find_program(VSSM_PYTHON3 NAMES python3)
if(VSSM_PYTHON3 AND CMAKE_NM)
  add_test(NAME test_exports COMMAND ${VSSM_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/check_exports.py ${CMAKE_NM}
           $<TARGET_FILE:vssm_shared> ${CMAKE_SOURCE_DIR}/include/vssm)
  set_tests_properties(test_exports PROPERTIES LABELS install)
endif()
