/* kernels/cpu/v0_bwd_avx512.c - v0_bwd.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/v0_bwd.c"
