/* fuzz_safetensors: the safetensors reader (header JSON, dtypes, shapes, offsets, metadata)
 * on a file holding the fuzz input, then every tensor it exposes read in full and
 * converted to f32 where the dtype allows. Through vssm_weights_open too (content sniffing). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_weights.h"
#include "vssm/weights.h"

static void walk(vssm_weights *w) {
    for (int i = 0, n = vssm_weights_meta_count(w); i < n; i++) {
        const char *k = vssm_weights_meta_key(w, i);
        if (!k) abort();
        const char *v = vssm_weights_meta(w, k);
        if (!v) abort();
        fz_consume(v, strlen(v) + 1);
    }
    fz_walk_tensors(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path(0, "in.safetensors");
    fz_write(path, data, size);
    vssm_err err = {0};
    vssm_weights *w = NULL;
    if (vssm_safetensors_open(&w, path, &err) == VSSM_OK) {
        walk(w);
        vssm_weights_close(w);
    }
    w = NULL;
    if (vssm_weights_open(&w, path, NULL, &err) == VSSM_OK) vssm_weights_close(w);
    return 0;
}
