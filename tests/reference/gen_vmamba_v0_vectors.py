#!/usr/bin/python3
"""Write the parity vectors of the first VMamba release (tests/data/vmamba/v0_*.safetensors).

    /usr/bin/python3 tests/reference/gen_vmamba_v0_vectors.py           # the small configs
    /usr/bin/python3 tests/reference/gen_vmamba_v0_vectors.py --full vmamba-v0-tiny /tmp/v0t.safetensors [--old-names]

Each file holds every weight (F32) under the official keys - or, for the configs marked
old_names, under the keys the first release saved (patch_embed.proj, blocks.N.ln_1,
blocks.N.self_attention, norm, head), which vssm maps on open as the official loader does -
plus "input" (B, 3, H, W) and the float64 reference activations "ref.*" (stored F32), read by
tests/test_vmamba_parity.c (test_vmamba_v0_parity). See tests/reference/README.md.
"""

import argparse
import copy
import math
import os
import sys
import time

import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vmamba_v0_ref as v0  # noqa: E402
from gen_vmamba_vectors import OUT_DIR, MAX_FILE_BYTES, rel  # noqa: E402

# d_state 16 and ssm_ratio 2 as released; widths small (dims 6: stages 6, 12, 24, 48).
CONFIGS = [
    # odd H and W: the 4x4 patch embed drops 37 % 4 = 1 row and 53 % 4 = 1 column; every patch
    # merging then pads an odd side (9x13 -> 5x7 -> 3x4 -> 2x2); batch 3; the old names
    dict(name="v0_odd", dims=6, depths=(1, 1, 2, 1), ssm_ratio=2.0, d_state=16, num_classes=7,
         batch=3, height=37, width=53, seed=2001, old_names=True),
    # even sizes, today's names, d_state 4 and ssm_ratio 1 (the v0 forward with other widths)
    dict(name="v0_even", dims=8, depths=(2, 1, 1, 1), ssm_ratio=1.0, d_state=4, num_classes=5,
         batch=2, height=32, width=48, seed=2002, old_names=False),
]

FULL_ARCHS = {
    "vmamba-v0-tiny": dict(dims=96, depths=(2, 2, 9, 2)),
    "vmamba-v0-small": dict(dims=96, depths=(2, 2, 27, 2)),
    "vmamba-v0-base": dict(dims=128, depths=(2, 2, 27, 2)),
}


def model_cfg(c):
    return dict(dims=c["dims"], depths=tuple(c["depths"]), ssm_ratio=c["ssm_ratio"], d_state=c["d_state"],
                num_classes=c["num_classes"])


def metadata(c, model):
    # no "dims" key: a file whose metadata has one is read as a vssm config (all keys), and these
    # files must load as an official checkpoint does, from the tensor names and shapes
    return {
        "format": "vssm-test-vectors", "arch": "vmamba", "forward_type": "v0", "norm": "ln",
        "patchembed": "v1", "downsample": "v1",
        "stage_dims": ",".join(str(d) for d in model.dims), "depths": ",".join(str(d) for d in c["depths"]),
        "ssm_ratio": repr(float(c["ssm_ratio"])), "d_state": str(c["d_state"]), "dt_rank": "auto",
        "mlp_ratio": "0.0", "num_classes": str(c["num_classes"]), "batch": str(c["batch"]),
        "height": str(c["height"]), "width": str(c["width"]), "seed": str(c["seed"]),
        "names": "old" if c.get("old_names") else "official", "ref_dtype": "float64",
    }


def build(c, f64=True):
    model = v0.make_model(c["seed"], **model_cfg(c))
    g = torch.Generator().manual_seed(c["seed"] + 7919)
    x = torch.randn(c["batch"], 3, c["height"], c["width"], generator=g)
    with torch.no_grad():
        run = copy.deepcopy(model).double() if f64 else model
        out = run.forward_all(x.double() if f64 else x)
        stats = {k: rel(model.forward_all(x)[k], out[k]) for k in out} if f64 and c["height"] < 100 else {}
    state = model.state_dict()
    tensors = dict(v0.old_names(state) if c.get("old_names") else state)
    tensors = {k: t.detach().clone().contiguous() for k, t in tensors.items()}
    tensors["input"] = x
    tensors.update({"ref." + k: t.float().contiguous() for k, t in out.items()})
    return model, tensors, metadata(c, model), stats


def verify(path, c):
    """Read back, map old names back, strict-load into a fresh model, rerun in float64."""
    t, _ = st_io.load(path)
    w = {k: v for k, v in t.items() if k != "input" and not k.startswith("ref.")}
    if c.get("old_names"):
        assert all(not k.startswith("classifier.") and ".op." not in k for k in w), "new names in an old-names file"
        new_of = v0.old_names({k: k for k in v0.VSSMv0(**model_cfg(c)).state_dict()})   # old -> new
        w = {new_of[k]: v for k, v in w.items()}
    m = v0.VSSMv0(**model_cfg(c))
    m.load_state_dict(w, strict=True)
    with torch.no_grad():
        out = m.double().forward_all(t["input"].double())
    return max(rel(t["ref." + k], out[k]) for k in out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", nargs=2, metavar=("ARCH", "OUT"), help="one full-size file (%s)" % ", ".join(FULL_ARCHS))
    ap.add_argument("--size", type=int, default=224, help="with --full: input height and width")
    ap.add_argument("--old-names", action="store_true", help="with --full: the first release's tensor names")
    ap.add_argument("--f32", action="store_true", help="with --full: the reference in float32 (faster)")
    ap.add_argument("--out-dir", default=OUT_DIR)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.full:
        arch, out = args.full
        c = dict(name=arch, ssm_ratio=2.0, d_state=16, num_classes=1000, batch=1, height=args.size, width=args.size,
                 seed=2024, old_names=args.old_names, **FULL_ARCHS[arch])
        t0 = time.time()
        model, tensors, meta, _ = build(c, f64=not args.f32)
        meta["ref_dtype"] = "float32" if args.f32 else "float64"
        meta["arch_name"] = arch
        st_io.save(out, tensors, meta)
        print("%s: %d params, forward + write %.1f s, %s (%.1f MB), logits[0,:5] %s" % (
            arch, sum(p.numel() for p in model.parameters()), time.time() - t0, out, os.path.getsize(out) / 2**20,
            [round(v, 5) for v in tensors["ref.logits"][0, :5].tolist()]))
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    for c in CONFIGS:
        t0 = time.time()
        _, tensors, meta, stats = build(c)
        path = os.path.join(args.out_dir, c["name"] + ".safetensors")
        st_io.save(path, tensors, meta)
        size = os.path.getsize(path)
        print("%-8s %7.1f KB  %.1fs  f32-vs-f64 max rel: %s" % (
            c["name"], size / 1024, time.time() - t0, " ".join("%s=%.1e" % kv for kv in stats.items())))
        print("%-8s readback + strict load + rerun: max rel diff vs stored refs %.1e" % ("", verify(path, c)))
        if size > MAX_FILE_BYTES:
            print("WARNING: %s is over %d KB" % (path, MAX_FILE_BYTES // 1024), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
