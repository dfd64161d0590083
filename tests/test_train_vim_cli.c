/* tests/test_train_vim_cli.c - `vssm train` on a Vim file (issue 20): a tiny Vim classifier
 * (tests/data/train/vim_tiny28.safetensors: d_model 16, depth 2, 4x4 patches on 28x28, by
 * gen_vim_train_grad_vectors.py) on the Fashion-MNIST sample images (under a second a run):
 *  - 2 epochs at 1 and at 2 threads write the same model bytes, and so does 1 epoch
 *    (--stop-after 1) then --resume (EMA and clipping on); the output is a Vim model as any other
 *    (`vssm classify` prints its folder names);
 *  - a linear probe (--freeze backbone --new-head) changes head.* only: every other tensor of
 *    the output is bit-identical to the starting file's;
 *  - vim-tiny at another size than its position grid is a usage error naming the grid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/weights.h"

#define TINY VSSM_TEST_DATA "/train/vim_tiny28.safetensors"
#define SAMPLE VSSM_SOURCE_DIR "/weights/fashion_mnist/sample"
#define FIT "train --data " SAMPLE " --val-split 0.2 --epochs 2 --batch 10 --lr 3e-3 --ema 0.9 --clip 1 "

static char out[1 << 16], err[1 << 16];

/* vssm with the arguments (printf format, one string argument); its exit status */
static int vssm(const char *fmt, const char *arg) {
    char cmd[2400], args[1800];
    snprintf(args, sizeof args, fmt, arg);
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s", VSSM_BIN, args);
    const int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    if (rc) fprintf(stderr, "[%s] exit %d:\n%s\n", cmd, rc, err);
    return rc;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *fa = test_read_file(a, &na), *fb = test_read_file(b, &nb);
    const int same = fa && fb && na == nb && !memcmp(fa, fb, na);
    return free(fa), free(fb), same;
}

int main(void) {
    char tmp[] = "/tmp/vssm_train_vim_XXXXXX", a[512], b[512];
    TEST_REQUIRE(mkdtemp(tmp), "temp dir");
    snprintf(a, sizeof a, "%s/a.safetensors", tmp);
    snprintf(b, sizeof b, "%s/b.safetensors", tmp);
    TEST_REQUIRE(vssm(FIT "--weights " TINY " --threads 1 --out %s", a) == 0, "train a Vim at 1 thread");
    TEST_CHECK(strstr(err, "(Vim)") && strstr(err, "epoch 2: val top-1"), "the run names a Vim and validates: %s", err);
    TEST_REQUIRE(vssm(FIT "--weights " TINY " --threads 2 --out %s", b) == 0, "train a Vim at 2 threads");
    TEST_CHECK(same_file(a, b), "the same model bytes at 1 and 2 threads");
    TEST_REQUIRE(vssm(FIT "--weights " TINY " --threads 2 --stop-after 1 --out %s", b) == 0, "1 epoch");
    char resume[1100];
    snprintf(resume, sizeof resume, "%s.ckpt --out %s", b, b);
    TEST_REQUIRE(vssm(FIT "--weights " TINY " --threads 1 --resume %s", resume) == 0, "--resume");
    TEST_CHECK(same_file(a, b), "1 epoch + --resume: the model bytes of 2 epochs straight");
    static const char *const folders[] = {"0_T-shirt-top", "1_Trouser", "2_Pullover", "3_Dress", "4_Coat",
                                          "5_Sandal",      "6_Shirt",   "7_Sneaker",  "8_Bag",   "9_Ankle-boot"};
    int named = 0;
    const int crc = vssm("classify --weights %s " SAMPLE "/1_Trouser/2.png", a);
    const char *top5 = strstr(out, ".png: "); /* after the path, which names a folder too */
    for (int k = 0; k < 10 && top5; k++) named += strstr(top5, folders[k]) != NULL;
    TEST_CHECK(crc == 0 && named == 5, "vssm classify reads the output and prints 5 folder names (%d): %s", named, out);
    /* a linear probe: head.* alone changes */
    TEST_REQUIRE(vssm(FIT "--weights " TINY " --freeze backbone --new-head --lr 1e-2 --out %s", b) == 0, "probe");
    vssm_weights *w0 = NULL, *w1 = NULL;
    vssm_err e = {0};
    TEST_REQUIRE(vssm_weights_open(&w0, TINY, NULL, &e) == VSSM_OK && vssm_weights_open(&w1, b, NULL, &e) == VSSM_OK,
                 "open: %s", e.msg);
    int same = 0, head_changed = 0, n = 0;
    for (int i = 0; i < vssm_weights_count(w0); i++) {
        const char *nm = vssm_weights_name(w0, i);
        vssm_tensor t0, t1;
        if (vssm_weights_get(w0, nm, &t0, &e) != VSSM_OK || vssm_weights_get(w1, nm, &t1, &e) != VSSM_OK) continue;
        const int eq = vssm_tensor_numel(&t0) == vssm_tensor_numel(&t1) &&
                       !memcmp(t0.data, t1.data, (size_t)vssm_tensor_numel(&t0) * sizeof(float));
        if (!strncmp(nm, "head.", 5))
            head_changed += !eq;
        else
            same += eq, n++;
    }
    TEST_CHECK(n == 39 && same == n && head_changed == 2, "probe: %d of %d backbone tensors kept, %d head tensors new",
               same, n, head_changed);
    vssm_weights_close(w0), vssm_weights_close(w1);
    TEST_CHECK(vssm("train --data " SAMPLE " --arch vim-tiny --size 64 --epochs 1 --batch 2 --out %s", a) == 2 &&
                   strstr(err, "position grid"),
               "vim-tiny at 64x64: exit 2 naming the position grid: %s", err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    TEST_CHECK(system(cmd) == 0, "cleanup");
    return test_finish("test_train_vim_cli");
}
