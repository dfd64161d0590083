/* kernels/cpu/v0_ops_avx2.c - v0_ops.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/v0_ops.c"
