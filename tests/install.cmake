# Packaging: libvssm.so exports exactly the public API (VSSM_API, -fvisibility=hidden), and
# every global symbol of libvssm.a carries the vssm_ prefix.
find_program(VSSM_PYTHON3 NAMES python3)
if(VSSM_PYTHON3 AND CMAKE_NM)
  add_test(NAME test_exports COMMAND ${VSSM_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/check_exports.py
           --static $<TARGET_FILE:vssm_static> ${CMAKE_NM}
           $<TARGET_FILE:vssm_shared> ${CMAKE_SOURCE_DIR}/include/vssm
           ${CMAKE_BINARY_DIR}/generated/include/vssm)
  set_tests_properties(test_exports PROPERTIES LABELS install)
endif()

# Installs into a temporary prefix and builds examples/ against it through pkg-config and
# find_package, shared and static (tests/install_test.sh).
find_program(VSSM_PKG_CONFIG NAMES pkg-config pkgconf)
if(VSSM_PKG_CONFIG)
  add_test(NAME test_install COMMAND sh ${CMAKE_SOURCE_DIR}/tests/install_test.sh ${CMAKE_BINARY_DIR}
           ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER} ${VSSM_PKG_CONFIG} ${PROJECT_VERSION} ${CMAKE_COMMAND})
  set_tests_properties(test_install PROPERTIES LABELS install)
endif()
