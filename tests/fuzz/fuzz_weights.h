/* tests/fuzz/fuzz_weights.h - what the weights harnesses (fuzz_pth, fuzz_safetensors) do
 * with a file that opened: read every tensor whole and convert the small ones to f32, so
 * a view or an extent that lies about its storage is touched (ASan sees the bad read). */
#ifndef VSSM_FUZZ_WEIGHTS_H
#define VSSM_FUZZ_WEIGHTS_H

#include <stdlib.h>
#include "fuzz_util.h"
#include "vssm/weights.h"

static inline void fz_walk_tensors(vssm_weights *w) {
    vssm_err err = {0};
    for (int i = 0, n = vssm_weights_count(w); i < n; i++) {
        const char *name = vssm_weights_name(w, i);
        if (!name) abort();
        vssm_tensor t;
        if (vssm_weights_get(w, name, &t, &err) != VSSM_OK) continue;
        int64_t numel = vssm_tensor_numel(&t);
        if (numel < 0) abort();
        size_t bytes = (size_t)numel * vssm_dtype_size(t.dtype);
        fz_consume(t.data, bytes);
        if (numel <= (1 << 20)) {
            float *f = (float *)malloc((size_t)(numel ? numel : 1) * sizeof(float));
            if (!f) abort();
            (void)vssm_tensor_to_f32(&t, f, &err);
            free(f);
        }
    }
}

#endif
