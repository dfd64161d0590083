/* kernels/cpu/norm_bwd_avx512.c - norm_bwd.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/norm_bwd.c"
