/* fuzz_pth: the torch .pth reader (zip container, restricted pickle VM, storages, tensor
 * views) on a file holding the fuzz input, with each of the sub-dict keys; every tensor it
 * exposes is read in full and converted to f32. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "vssm/weights.h"

static void walk(vssm_weights *w) {
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path(0, "in.pth");
    fz_write(path, data, size);
    static const char *const keys[] = {NULL, "model_ema", "state_dict"};
    /* the default key always; the others on a third of the inputs each (speed) */
    int nk = 1 + (size % 3 == 0 ? 2 : 0);
    for (int k = 0; k < nk; k++) {
        vssm_err err = {0};
        vssm_weights *w = NULL;
        vssm_weights_opts o = {.key = keys[k]};
        if (vssm_pth_open(&w, path, &o, &err) == VSSM_OK) {
            walk(w);
            vssm_weights_close(w);
        }
    }
    return 0;
}
