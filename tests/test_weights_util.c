#include "test_weights_util.h"
#include <stdio.h>
#include <string.h>
#include "testutil.h"
#include "weights/pth_internal.h"

int test_weights_check_manifest(const vssm_weights *w, const char *mp, const char *label) {
    FILE *f = fopen(mp, "r");
    TEST_CHECK(f != NULL, "cannot read %s", mp);
    if (!f) return 1;
    char name[256], dt[16], shape[128];
    unsigned crc;
    int lines = 0, bad = 0;
    vssm_err err = {0};
    while (fscanf(f, "%255s %15s %127s %x", name, dt, shape, &crc) == 4) {
        lines++;
        vssm_tensor t;
        if (vssm_weights_get(w, name, &t, &err) != VSSM_OK) {
            TEST_CHECK(0, "%s: %s", label, err.msg);
            bad++;
            continue;
        }
        char got[128] = "-";
        size_t used = 0;
        for (int d = 0; d < t.ndim; d++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", d ? "," : "", (long long)t.shape[d]);
        size_t nb = (size_t)vssm_tensor_numel(&t) * vssm_dtype_size(t.dtype);
        unsigned c = vssm_crc32(0, t.data, nb);
        int ok = !strcmp(vssm_dtype_name(t.dtype), dt) && !strcmp(got, shape) && c == crc;
        bad += !ok;
        TEST_CHECK(ok, "%s: tensor %s: expected %s (%s) crc %08x, got %s (%s) crc %08x", label, name, dt, shape, crc,
                   vssm_dtype_name(t.dtype), got, c);
    }
    fclose(f);
    TEST_CHECK(lines > 0 && lines == vssm_weights_count(w), "%s: manifest has %d tensors, file has %d", label, lines,
               vssm_weights_count(w));
    printf("%-40s %4d tensors, %d mismatches\n", label, lines, bad);
    return bad;
}
