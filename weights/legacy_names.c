/* weights/legacy_names.c - tensor names of the first VMamba release (v0), mapped on open.
 *
 * Files saved by the VMamba code before February 2024 (vssmtiny_dp01_ckpt_epoch_292.pth and
 * the detection / segmentation checkpoints built on that backbone) name the tensors
 *   patch_embed.proj.*  patch_embed.norm.*  layers.i.blocks.j.ln_1.*
 *   layers.i.blocks.j.self_attention.*  norm.*  head.*
 * The official VSSM._load_from_state_dict renames them, under the prefix the model lives at,
 * to patch_embed.0, patch_embed.2, .norm, .op, classifier.norm, classifier.head. We do the
 * same once, when a file is opened, so every loader, `vssm info` and `vssm convert` see one
 * layout. A file is taken for such a checkpoint only when it holds a block in the old form
 * ("...layers.I.blocks.J.ln_1." or "...self_attention."): a Vision Mamba (patch_embed.proj,
 * head) never does, and is left alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weights/weights_internal.h"

/* length of the prefix before "layers.I.blocks.J.<part>" in name, or -1 */
static int legacy_block_prefix(const char *name) {
    for (const char *p = strstr(name, "layers."); p; p = strstr(p + 1, "layers.")) {
        if (p != name && p[-1] != '.') continue;
        int i, j, n = 0;
        if (sscanf(p, "layers.%d.blocks.%d.%n", &i, &j, &n) == 2 && n > 0 &&
            (!strncmp(p + n, "ln_1.", 5) || !strncmp(p + n, "self_attention.", 15)))
            return (int)(p - name);
    }
    return -1;
}

/* the new name of `name` (below prefix pl chars long) into out; 0 when it keeps its name */
static int legacy_rename(const char *name, int pl, char *out, size_t n) {
    static const char *const top[][2] = {{"patch_embed.proj", "patch_embed.0"},
                                         {"patch_embed.norm", "patch_embed.2"},
                                         {"norm", "classifier.norm"},
                                         {"head", "classifier.head"}};
    const char *rest = name + pl;
    for (size_t k = 0; k < sizeof top / sizeof top[0]; k++) {
        size_t l = strlen(top[k][0]);
        if (!strncmp(rest, top[k][0], l)) return snprintf(out, n, "%.*s%s%s", pl, name, top[k][1], rest + l) < (int)n;
    }
    int i, j, m = 0;
    if (sscanf(rest, "layers.%d.blocks.%d.%n", &i, &j, &m) != 2 || m == 0) return 0;
    if (!strncmp(rest + m, "ln_1", 4))
        return snprintf(out, n, "%.*s%.*snorm%s", pl, name, m, rest, rest + m + 4) < (int)n;
    if (!strncmp(rest + m, "self_attention", 14))
        return snprintf(out, n, "%.*s%.*sop%s", pl, name, m, rest, rest + m + 14) < (int)n;
    return 0;
}

vssm_status vssm_weights_map_legacy_names(vssm_weights *w, vssm_err *err) {
    int pl = -1;
    for (int i = 0; i < w->n && pl < 0; i++) pl = legacy_block_prefix(w->e[i].name);
    if (pl < 0) return VSSM_OK;
    char prefix[256];
    if (pl >= (int)sizeof prefix) return VSSM_OK;
    for (int i = 0; i < w->n; i++) /* the prefix is the first old block's */
        if (legacy_block_prefix(w->e[i].name) == pl) {
            memcpy(prefix, w->e[i].name, (size_t)pl);
            prefix[pl] = 0;
            break;
        }
    for (int i = 0; i < w->n; i++) {
        char nm[512];
        if (strncmp(w->e[i].name, prefix, (size_t)pl) != 0 || !legacy_rename(w->e[i].name, pl, nm, sizeof nm)) continue;
        char *dup = strdup(nm);
        if (!dup) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        free(w->e[i].name);
        w->e[i].name = dup;
    }
    return VSSM_OK;
}
