/* tests/test_convert_guards.c - `vssm convert` and `vssm info` against user mistakes:
 *   - convert IN IN (or another spelling of IN) is refused (exit 2) and IN is left as it was
 *     (it was replaced by its own conversion, exit 0);
 *   - convert to a folder that does not exist: exit 2 before the checkpoint is read;
 *   - --key on a safetensors file (it holds one state dict; the option was ignored): convert and
 *     info refuse it (exit 2; info with two files: the other one shown, exit 1), and still take it
 *     on a .pth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation" /* paths are short */
#endif

static char out[1 << 16], err[1 << 14], dir[64];

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, err, sizeof err); }

static int same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

int main(void) {
    const char *PTH = VSSM_SOURCE_DIR "/tests/data/weights/ckpt_tiny.pth",
               *ST = VSSM_SOURCE_DIR "/tests/data/cli/tiny_cls.safetensors";
    snprintf(dir, sizeof dir, "/tmp/vssm_convert_guards_%d", (int)getpid());
    char cmd[1024], in[128];
    snprintf(in, sizeof in, "%s/in.pth", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s", dir, PTH, in);
    TEST_REQUIRE(system(cmd) == 0, "set up %s", dir);

    snprintf(cmd, sizeof cmd, "'%s' convert %s %s", VSSM_BIN, in, in);
    int rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(err, "is the input file") && same_bytes(in, PTH),
               "convert IN IN: exit 2 (%d), IN kept: %s", rc, err);
    snprintf(cmd, sizeof cmd, "cd %s && '%s' convert in.pth ../%s/./in.pth", dir, VSSM_BIN, dir + 5);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(err, "is the input file") && same_bytes(in, PTH),
               "convert IN ../dir/./IN: exit 2 (%d), IN kept: %s", rc, err);
    snprintf(cmd, sizeof cmd, "'%s' convert %s %s/nodir/x.safetensors", VSSM_BIN, in, dir);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(err, "does not exist"), "OUT in a missing folder: exit 2 (%d): %s", rc, err);

    snprintf(cmd, sizeof cmd, "'%s' convert %s %s/o.safetensors --key model_ema", VSSM_BIN, ST, dir);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(err, "--key applies to .pth"), "convert --key on safetensors: exit 2 (%d): %s", rc,
               err);
    snprintf(cmd, sizeof cmd, "'%s' convert %s %s/o.safetensors --key model_ema", VSSM_BIN, in, dir);
    rc = run(cmd);
    TEST_CHECK(rc == 0, "convert --key on a .pth: exit 0 (%d): %s", rc, err);

    snprintf(cmd, sizeof cmd, "'%s' info --no-tensors --key model_ema %s", VSSM_BIN, ST);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(err, "--key applies to .pth checkpoints only"),
               "info --key on safetensors: exit 2 (%d): %s", rc, err);
    snprintf(cmd, sizeof cmd, "'%s' info --no-tensors --key model_ema %s %s", VSSM_BIN, in, ST);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(out, "in.pth") && strstr(err, "tiny_cls.safetensors: --key applies"),
               "info --key on a .pth and a safetensors file: the .pth shown, the other named, exit 1 (%d): %s", rc,
               err);
    snprintf(cmd, sizeof cmd, "'%s' info --no-tensors %s", VSSM_BIN, ST);
    TEST_CHECK(run(cmd) == 0, "info without --key on safetensors: exit 0: %s", err);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_convert_guards");
}
