/* tests/vmamba_vectors.h - reading tests/data/vmamba/<name>.safetensors (written by
 * tests/reference/gen_vmamba_vectors.py): the config from its metadata, and its NCHW
 * tensors as NHWC. Shared by the CPU parity and the CUDA model tests. */
#ifndef VSSM_TEST_VMAMBA_VECTORS_H
#define VSSM_TEST_VMAMBA_VECTORS_H

#include "vssm/vssm.h"

/* 1 on success: cfg from the metadata, B/H/W of the stored input */
int vvec_load_cfg(vssm_weights *wf, vssm_vmamba_config *cfg, int *B, int *H, int *W);
/* tensor NAME (B, C, H, W) as a malloc'ed NHWC copy; its NCHW shape in shape_out; NULL if absent */
float *vvec_nhwc(vssm_weights *wf, const char *name, int64_t shape_out[4]);

#endif
