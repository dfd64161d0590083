# cmake/package.cmake - what makes libvssm findable and linkable from outside this tree:
# symbol visibility (only VSSM_API functions are exported by libvssm.so).
# Included once, at the end of the top-level CMakeLists.txt.

# ---- visibility: every library object is compiled hidden; VSSM_API (vssm/common.h) marks
# the public functions default. The static library and the object library keep working for
# the tools and tests that call internal functions (hidden symbols still link statically).
# --exclude-libs: nothing from a static archive linked in (cudart_static) is re-exported.
set_target_properties(vssm_obj PROPERTIES C_VISIBILITY_PRESET hidden CUDA_VISIBILITY_PRESET hidden)
target_compile_definitions(vssm_obj PRIVATE VSSM_BUILD_SHARED=1)
target_link_options(vssm_shared PRIVATE "LINKER:--exclude-libs,ALL")
