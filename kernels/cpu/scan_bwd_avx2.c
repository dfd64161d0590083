/* kernels/cpu/scan_bwd_avx2.c - scan_bwd.c's task compiled with the AVX2 + FMA flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/scan_bwd.c"
