/* kernels/cpu/v0_bwd_avx2.c - v0_bwd.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/v0_bwd.c"
