/* fuzz_pth: the torch .pth reader (zip container, restricted pickle VM, storages, tensor
 * views) on a file holding the fuzz input, with each of the sub-dict keys; every tensor it
 * exposes is read in full and converted to f32. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_weights.h"
#include "vssm/weights.h"


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
            fz_walk_tensors(w);
            vssm_weights_close(w);
        }
    }
    return 0;
}
