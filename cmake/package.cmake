# cmake/package.cmake - what makes libvssm findable and linkable from outside this tree:
# symbol visibility, the version (written once: project(vssm VERSION ...)), SOVERSION,
# install RPATH, and the install of the libraries, headers, `vssm`, vssm.pc (pkg-config)
# and vssmConfig.cmake (find_package: vssm::vssm shared, vssm::vssm_static).
# Included once, at the END of the top-level CMakeLists.txt: it reads the link
# dependencies the library targets have by then.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- visibility: every library object is compiled hidden; VSSM_API (vssm/common.h) marks
# the public functions default. The static library and the object library keep working for
# the tools and tests that call internal functions (hidden symbols still link statically).
# --exclude-libs: nothing from a static archive linked in (cudart_static) is re-exported.
set_target_properties(vssm_obj PROPERTIES C_VISIBILITY_PRESET hidden CUDA_VISIBILITY_PRESET hidden)
target_compile_definitions(vssm_obj PRIVATE VSSM_BUILD_SHARED=1)
target_link_options(vssm_shared PRIVATE "LINKER:--exclude-libs,ALL")

# ---- version: vssm/version.h generated from include/vssm/version.h.in
set(VSSM_GENERATED_INCLUDE ${CMAKE_BINARY_DIR}/generated/include)
configure_file(${CMAKE_SOURCE_DIR}/include/vssm/version.h.in ${VSSM_GENERATED_INCLUDE}/vssm/version.h @ONLY)
target_include_directories(vssm_obj PUBLIC ${VSSM_GENERATED_INCLUDE})
# no ABI promise before 1.0: the soname carries MAJOR.MINOR while MAJOR is 0
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(VSSM_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  set(VSSM_COMPATIBILITY SameMinorVersion)
else()
  set(VSSM_SOVERSION ${PROJECT_VERSION_MAJOR})
  set(VSSM_COMPATIBILITY SameMajorVersion)
endif()
set_target_properties(vssm_shared PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${VSSM_SOVERSION} EXPORT_NAME vssm)
set_target_properties(vssm_static PROPERTIES EXPORT_NAME vssm_static)

# ---- the private dependencies, read from the targets: for each link item of the library,
# what the CMake package must find (VSSM_CFG_DEPS), what the exported static target links
# (VSSM_INSTALL_LINK) and what vssm.pc lists (VSSM_PC_REQUIRES, VSSM_PC_LIBS).
# pkg-config modules of the PkgConfig::NAME targets the library links:
set(VSSM_PC_MODULE_TURBOJPEG libturbojpeg)
set(VSSM_PC_MODULE_PNG libpng)
set(VSSM_PC_MODULE_CJSON libcjson)
set(VSSM_PC_MODULE_CAIRO cairo)
set(VSSM_PC_MODULE_OPENBLAS openblas)
set(VSSM_CFG_DEPS "")
set(VSSM_INSTALL_LINK "")
set(VSSM_PC_REQUIRES "")
set(VSSM_PC_LIBS "")
set(VSSM_SYSTEM_LIB_DIRS ${CMAKE_C_IMPLICIT_LINK_DIRECTORIES} ${CMAKE_PLATFORM_IMPLICIT_LINK_DIRECTORIES})

set(VSSM_RPATH_DIRS "")   # folders of the libraries linked that the loader does not search

function(vssm_pc_rpath dir)
  if(NOT dir IN_LIST VSSM_SYSTEM_LIB_DIRS AND NOT dir IN_LIST VSSM_RPATH_DIRS)
    set(VSSM_PC_LIBS ${VSSM_PC_LIBS} "-Wl,-rpath,${dir}" PARENT_SCOPE)
    set(VSSM_RPATH_DIRS ${VSSM_RPATH_DIRS} ${dir} PARENT_SCOPE)
  endif()
endfunction()

function(vssm_add_dep item)
  set(sub "")
  if(item MATCHES "^\\$<LINK_ONLY:(.*)>$")
    set(item "${CMAKE_MATCH_1}")
  endif()
  if(item MATCHES "^\\$<TARGET_PROPERTY:vssm_obj,INTERFACE_LINK_LIBRARIES>$")
    get_target_property(sub vssm_obj INTERFACE_LINK_LIBRARIES)
  elseif(item STREQUAL "OpenMP::OpenMP_C")
    list(APPEND VSSM_CFG_DEPS "find_dependency(OpenMP COMPONENTS C)")
    list(APPEND VSSM_INSTALL_LINK ${item})
    separate_arguments(flags UNIX_COMMAND "${OpenMP_C_FLAGS}")
    list(APPEND VSSM_PC_LIBS ${flags})
    foreach(l ${OpenMP_C_LIB_NAMES})
      list(APPEND VSSM_PC_LIBS -l${l})
    endforeach()
  elseif(item MATCHES "^PkgConfig::(.*)$")
    set(name ${CMAKE_MATCH_1})
    set(module ${VSSM_PC_MODULE_${name}})
    if(NOT module)
      message(FATAL_ERROR "cmake/package.cmake: the library links ${item}: add its pkg-config module name "
                          "(set(VSSM_PC_MODULE_${name} ...)) so vssm.pc and vssmConfig.cmake list it")
    endif()
    list(APPEND VSSM_CFG_DEPS "vssm_pkg_dep(${name} ${module})")
    list(APPEND VSSM_INSTALL_LINK PkgConfig::vssm_dep_${name})   # vssmConfig.cmake's own name
    list(APPEND VSSM_PC_REQUIRES ${module})
  elseif(item MATCHES "^CUDA::(.*)$")
    list(APPEND VSSM_CFG_DEPS "vssm_cuda_dep()")
    list(APPEND VSSM_INSTALL_LINK ${item})
    list(APPEND VSSM_PC_LIBS -L${CUDAToolkit_LIBRARY_DIR} -l${CMAKE_MATCH_1})
    vssm_pc_rpath(${CUDAToolkit_LIBRARY_DIR})
  elseif(TARGET ${item})
    get_target_property(imported ${item} IMPORTED)
    get_target_property(type ${item} TYPE)
    if(imported OR NOT type STREQUAL "INTERFACE_LIBRARY")
      message(FATAL_ERROR "cmake/package.cmake: do not know how users of a static libvssm find ${item}")
    endif()
    get_target_property(sub ${item} INTERFACE_LINK_LIBRARIES)   # vssm_blas
  elseif(IS_ABSOLUTE "${item}")
    list(APPEND VSSM_INSTALL_LINK ${item})
    list(APPEND VSSM_PC_LIBS ${item})
    get_filename_component(dir ${item} DIRECTORY)
    vssm_pc_rpath(${dir})
  elseif(item MATCHES "^[A-Za-z0-9_+.-]+$")   # m, stdc++
    list(APPEND VSSM_INSTALL_LINK ${item})
    list(APPEND VSSM_PC_LIBS -l${item})
  else()
    message(FATAL_ERROR "cmake/package.cmake: do not know how users of a static libvssm link '${item}'")
  endif()
  foreach(s ${sub})
    vssm_add_dep(${s})
  endforeach()
  foreach(v VSSM_CFG_DEPS VSSM_INSTALL_LINK VSSM_PC_REQUIRES VSSM_PC_LIBS VSSM_RPATH_DIRS)
    set(${v} "${${v}}" PARENT_SCOPE)
  endforeach()
endfunction()

get_target_property(VSSM_STATIC_LINK vssm_static INTERFACE_LINK_LIBRARIES)
foreach(item ${VSSM_STATIC_LINK})
  vssm_add_dep(${item})
endforeach()
if(VSSM_HAVE_CUDA)
  # nvcc's objects are C++: a C program linking the static library needs libstdc++
  vssm_add_dep(stdc++)
endif()
foreach(v VSSM_CFG_DEPS VSSM_INSTALL_LINK VSSM_PC_REQUIRES VSSM_PC_LIBS)
  list(REMOVE_DUPLICATES ${v})
endforeach()
list(JOIN VSSM_CFG_DEPS "\n" VSSM_CFG_DEPS)
list(JOIN VSSM_PC_REQUIRES ", " VSSM_PC_REQUIRES)
list(JOIN VSSM_PC_LIBS " " VSSM_PC_LIBS)

# ---- install RPATH: the installed `vssm` and libvssm.so find the libraries they were linked
# against outside the loader's default path (OpenBLAS's OpenMP build, the CUDA toolkit, MPI)
set_target_properties(vssm vssm_shared PROPERTIES INSTALL_RPATH "${CMAKE_INSTALL_RPATH};${VSSM_RPATH_DIRS}"
                      INSTALL_RPATH_USE_LINK_PATH TRUE)

# The exported targets: what this tree links stays as it is (BUILD_INTERFACE); installed, the
# shared library brings its own dependencies and the static one names them (INSTALL_INTERFACE).
set(VSSM_INTERFACE_INCLUDES "$<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>" "$<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}>"
    "$<BUILD_INTERFACE:${VSSM_GENERATED_INCLUDE}>" "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
foreach(t vssm_static vssm_shared)
  get_target_property(build_link ${t} INTERFACE_LINK_LIBRARIES)
  get_target_property(build_defs ${t} INTERFACE_COMPILE_DEFINITIONS)
  set(link "")
  set(defs "")
  if(NOT build_defs)
    set(build_defs "")
  endif()
  foreach(item ${build_link})
    list(APPEND link "$<BUILD_INTERFACE:${item}>")
  endforeach()
  if(t STREQUAL "vssm_static")
    foreach(item ${VSSM_INSTALL_LINK})
      list(APPEND link "$<INSTALL_INTERFACE:$<LINK_ONLY:${item}>>")
    endforeach()
  endif()
  foreach(item ${build_defs})
    list(APPEND defs "$<BUILD_INTERFACE:${item}>")
  endforeach()
  set_target_properties(${t} PROPERTIES INTERFACE_LINK_LIBRARIES "${link}" INTERFACE_COMPILE_DEFINITIONS "${defs}"
                        INTERFACE_INCLUDE_DIRECTORIES "${VSSM_INTERFACE_INCLUDES}")
endforeach()

# ---- install
install(TARGETS vssm RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vssm_shared vssm_static EXPORT vssmTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/vssm ${VSSM_GENERATED_INCLUDE}/vssm
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

set(VSSM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vssm)
install(EXPORT vssmTargets NAMESPACE vssm:: DESTINATION ${VSSM_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vssmConfig.cmake.in ${CMAKE_BINARY_DIR}/vssmConfig.cmake
                              INSTALL_DESTINATION ${VSSM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vssmConfigVersion.cmake
                                 COMPATIBILITY ${VSSM_COMPATIBILITY})
install(FILES ${CMAKE_BINARY_DIR}/vssmConfig.cmake ${CMAKE_BINARY_DIR}/vssmConfigVersion.cmake
        DESTINATION ${VSSM_CMAKE_DIR})

# vssm.pc (the shared library; `pkg-config --static` adds the private dependencies) and
# vssm-static.pc (libvssm.a and everything it needs) are written at install time, when the
# prefix is known (cmake --install --prefix P): their paths are absolute, and they carry an
# rpath for a libdir outside the loader's default path.
set(VSSM_PC_PREFIX "@VSSM_PC_PREFIX@")
set(VSSM_PC_RPATH "@VSSM_PC_RPATH@")
foreach(pc vssm vssm-static)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/${pc}.pc.in ${CMAKE_BINARY_DIR}/${pc}.pc.in @ONLY)
endforeach()
install(CODE "
  set(VSSM_SYSTEM_LIB_DIRS \"${VSSM_SYSTEM_LIB_DIRS}\")
  set(VSSM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(VSSM_PC_RPATH \"\")
  get_filename_component(libdir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}\" ABSOLUTE)
  list(FIND VSSM_SYSTEM_LIB_DIRS \"\${libdir}\" system)
  if(system EQUAL -1)
    set(VSSM_PC_RPATH \" -Wl,-rpath,\\\${libdir}\")
  endif()
  foreach(pc vssm vssm-static)
    configure_file(\"${CMAKE_BINARY_DIR}/\${pc}.pc.in\" \"${CMAKE_BINARY_DIR}/pc/\${pc}.pc\" @ONLY)
    file(INSTALL \"${CMAKE_BINARY_DIR}/pc/\${pc}.pc\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
  endforeach()
")
