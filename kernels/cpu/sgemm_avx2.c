/* kernels/cpu/sgemm_avx2.c - sgemm.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/sgemm.c"
