/* kernels/cpu/scan_bwd_avx512.c - scan_bwd.c's task compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/scan_bwd.c"
