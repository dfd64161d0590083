/* kernels/cpu/sgemm_avx512.c - sgemm.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/sgemm.c"
