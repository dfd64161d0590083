/* kernels/cpu/scan_avx2.c - scan.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/scan.c"
