/* kernels/cpu/norm_bwd_avx2.c - norm_bwd.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/norm_bwd.c"
