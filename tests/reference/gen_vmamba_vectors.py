#!/usr/bin/python3
"""Write the VMamba parity vectors (tests/data/vmamba/*.safetensors) and check the reference.

    /usr/bin/python3 tests/reference/gen_vmamba_vectors.py            # all small configs
    /usr/bin/python3 tests/reference/gen_vmamba_vectors.py --check    # self-checks only
    /usr/bin/python3 tests/reference/gen_vmamba_vectors.py --full vmamba-tiny /tmp/tiny.safetensors [--f32]

Each vector file holds every weight under its official key (F32), "input" (B,3,H,W) and
the reference activations "ref.*" computed in float64 from the F32-rounded weights and
input, stored as F32. See tests/reference/README.md.
"""

import argparse
import copy
import math
import os
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vmamba_ref as vr  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "data", "vmamba"))
MAX_FILE_BYTES = 440 * 1024  # 400 KB asked; tiny_layout cannot fit at a well-conditioned width
MAX_TOTAL_BYTES = 1536 * 1024

# Small configs. The weights of the last stage grow as (8*dims)^2, so widths are small
# (dims 6: stage widths 6,12,24,48, dt_rank 1,1,2,3) to keep the files near 400 KB.
# dims 4 would be smaller still but its patch-embed LN2d over 2 channels is so badly
# conditioned that float32 and float64 differ by 2e-5 there: not a fair parity test.
CONFIGS = [
    # square input (56 -> 14, 7, 4, 2), batch 2, ssm_ratio 2 (d_inner = 2d)
    dict(name="small_sq", dims=6, depths=(1, 1, 2, 1), ssm_ratio=2.0, d_state=1,
         num_classes=10, batch=2, height=56, width=56, seed=1001),
    # odd H and W (every stride-2 conv gives ceil(H/2)), d_state 2, batch 3
    dict(name="odd_rect", dims=6, depths=(1, 2, 1, 1), ssm_ratio=1.0, d_state=2,
         num_classes=7, batch=3, height=37, width=53, seed=1002),
    # d_state 4, ssm_ratio 1.5 (d_inner = int(1.5*d), 9 at stage 0), last stage 1x2
    dict(name="dstate4", dims=6, depths=(2, 1, 1, 1), ssm_ratio=1.5, d_state=4,
         num_classes=5, batch=1, height=32, width=48, seed=1003),
    # the tiny s1l8 layout (depths 2,2,4,2: stage 2 at half depth, small width);
    # 32x32 input, so the last stage is 1x1 (L = 1). About 430 KB.
    dict(name="tiny_layout", dims=6, depths=(2, 2, 4, 2), ssm_ratio=1.0, d_state=1,
         num_classes=12, batch=1, height=32, width=32, seed=1004),
]

# Full-size architectures (VMAMBA.md table), for --full.
FULL_ARCHS = {
    "vmamba-tiny": dict(dims=96, depths=(2, 2, 8, 2), ssm_ratio=1.0),
    "vmamba-tiny-s2l5": dict(dims=96, depths=(2, 2, 5, 2), ssm_ratio=2.0),
    "vmamba-small": dict(dims=96, depths=(2, 2, 15, 2), ssm_ratio=2.0),
    "vmamba-base": dict(dims=128, depths=(2, 2, 15, 2), ssm_ratio=2.0),
    "vmamba-small-s1l20": dict(dims=96, depths=(2, 2, 20, 2), ssm_ratio=1.0),
    "vmamba-base-s1l20": dict(dims=128, depths=(2, 2, 20, 2), ssm_ratio=1.0),
}


def rel(a, b):
    """max|a-b| / max|b| (the metric the C parity tests use)."""
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()


def model_cfg(c):
    return dict(dims=c["dims"], depths=tuple(c["depths"]), ssm_ratio=c["ssm_ratio"],
                d_state=c["d_state"], num_classes=c["num_classes"])


def metadata(c, model):
    dims = model.dims
    return {
        "format": "vssm-test-vectors",
        "arch": "vmamba",
        "forward_type": "v05_noz",
        "norm": "ln2d",
        "patchembed": "v2",
        "downsample": "v3",
        "dims": str(dims[0]),
        "stage_dims": ",".join(str(d) for d in dims),
        "depths": ",".join(str(d) for d in c["depths"]),
        "ssm_ratio": repr(float(c["ssm_ratio"])),
        "d_inner": ",".join(str(int(c["ssm_ratio"] * d)) for d in dims),
        "d_state": str(c["d_state"]),
        "dt_rank": "auto",
        "dt_ranks": ",".join(str(math.ceil(d / 16)) for d in dims),
        "mlp_ratio": "4.0",
        "num_classes": str(c["num_classes"]),
        "batch": str(c["batch"]),
        "height": str(c["height"]),
        "width": str(c["width"]),
        "seed": str(c["seed"]),
        "ref_dtype": "float64",
    }


def build_tensors(c, f32_check=True):
    """Model + input from the seed; returns (tensors, metadata, stats)."""
    model = vr.make_model(c["seed"], **model_cfg(c))                 # float32 weights
    g = torch.Generator().manual_seed(c["seed"] + 7919)
    x = torch.randn(c["batch"], 3, c["height"], c["width"], generator=g)  # float32 input
    with torch.no_grad():
        model_ref64 = copy.deepcopy(model).double()
        out64 = model_ref64.forward_all(x.double())
        stats = {}
        if f32_check:
            out32 = model.forward_all(x)
            stats = {k: rel(out32[k], out64[k]) for k in out64}
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors["input"] = x
    for k, v in out64.items():
        tensors["ref." + k] = v.float().contiguous()
    return tensors, metadata(c, model), stats


# ---------------------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------------------

def selective_scan_cumsum(u, delta, A, Bs, Cs, Dskip):
    """Closed form of the same recurrence, no loop over L:
    h_t = sum_{s<=t} exp(S_t - S_s) * delta_s B_s u_s with S_t = sum_{r<=t} delta_r A,
    built as an (L, L) lower-triangular decay matrix per (b, k, d, n)."""
    L = u.shape[-1]
    S = torch.cumsum(delta.unsqueeze(-2) * A.unsqueeze(-1), dim=-1)          # (B,K,D,N,L)
    diff = S.unsqueeze(-1) - S.unsqueeze(-2)                                  # [..., t, s]
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    decay = torch.where(causal, diff, torch.full_like(diff, -math.inf)).exp()
    drive = (delta * u).unsqueeze(-2) * Bs.unsqueeze(2)                       # (B,K,D,N,L)
    h = torch.einsum("bkdnts,bkdns->bkdnt", decay, drive)
    y = torch.einsum("bkdnt,bknt->bkdt", h, Cs)
    return y + Dskip[None, :, :, None] * u


def cross_merge_by_index(ys, H, W):
    """VMAMBA.md's formula: y(h,w) = y0[hW+w] + y2[L-1-(hW+w)] + y1[wH+h] + y3[L-1-(wH+h)]."""
    B, K, D, L = ys.shape
    y = ys.new_zeros(B, D, H, W)
    for h in range(H):
        for w in range(W):
            r, cidx = h * W + w, w * H + h
            y[:, :, h, w] = ys[:, 0, :, r] + ys[:, 2, :, L - 1 - r] + ys[:, 1, :, cidx] + ys[:, 3, :, L - 1 - cidx]
    return y


def self_checks():
    g = torch.Generator().manual_seed(7)
    ok = True

    # 1. sequential scan == closed-form scan (float64)
    worst = 0.0
    for (B, K, D, N, L) in [(2, 4, 5, 1, 37), (1, 4, 3, 4, 64), (2, 4, 2, 2, 1)]:
        u = torch.randn(B, K, D, L, generator=g, dtype=torch.float64)
        delta = torch.nn.functional.softplus(torch.randn(B, K, D, L, generator=g, dtype=torch.float64) - 1.0)
        A = -torch.exp(0.5 * torch.randn(K, D, N, generator=g, dtype=torch.float64))
        Bs = torch.randn(B, K, N, L, generator=g, dtype=torch.float64)
        Cs = torch.randn(B, K, N, L, generator=g, dtype=torch.float64)
        Dk = torch.randn(K, D, generator=g, dtype=torch.float64)
        worst = max(worst, rel(vr.selective_scan_seq(u, delta, A, Bs, Cs, Dk),
                               selective_scan_cumsum(u, delta, A, Bs, Cs, Dk)))
    print("self-check selective scan: loop vs closed form (cumsum, float64): max rel diff %.3e" % worst)
    ok &= worst < 1e-12

    # 2. cross merge (flip/transpose) == explicit index formula; merge(scan(x)) == 4x
    worst = 0.0
    for (H, W) in [(3, 5), (4, 4), (1, 7), (5, 1)]:
        ys = torch.randn(2, 4, 3, H * W, generator=g, dtype=torch.float64)
        worst = max(worst, rel(vr.cross_merge(ys, H, W), cross_merge_by_index(ys, H, W)))
        x = torch.randn(2, 3, H, W, generator=g, dtype=torch.float64)
        worst = max(worst, rel(vr.cross_merge(vr.cross_scan(x), H, W), 4 * x))
        xs = vr.cross_scan(x)
        L = H * W
        for p in range(L):  # k0 visits (p//W, p%W), k1 visits (p%H, p//H), k2/k3 reversed
            worst = max(worst, rel(xs[:, 0, :, p], x[:, :, p // W, p % W]),
                        rel(xs[:, 1, :, p], x[:, :, p % H, p // H]),
                        rel(xs[:, 2, :, L - 1 - p], x[:, :, p // W, p % W]),
                        rel(xs[:, 3, :, L - 1 - p], x[:, :, p % H, p // H]))
    print("self-check cross scan/merge vs index formula: max rel diff %.3e" % worst)
    ok &= worst < 1e-15

    # 3. SS2D.ssm with the closed-form scan == with the loop, on a real module
    m = vr.make_model(3, dims=8, depths=(1, 1, 1, 1), ssm_ratio=1.5, d_state=3, num_classes=4).double()
    op = m.layers[0].blocks[0].op
    x = torch.randn(2, op.d_inner, 5, 7, generator=g, dtype=torch.float64)
    with torch.no_grad():
        d = rel(op.ssm(x), op.ssm(x, scan=selective_scan_cumsum))
    print("self-check SS2D core: loop vs closed-form scan: max rel diff %.3e" % d)
    ok &= d < 1e-12
    return ok


def expected_keys(c):
    """Official key list for a config, written out independently of the module tree."""
    keys = ["patch_embed.%d.%s" % (i, p) for i in (0, 2, 5, 7) for p in ("weight", "bias")]
    for i, depth in enumerate(c["depths"]):
        for j in range(depth):
            b = "layers.%d.blocks.%d." % (i, j)
            keys += [b + "norm.weight", b + "norm.bias", b + "op.in_proj.weight", b + "op.conv2d.weight",
                     b + "op.x_proj_weight", b + "op.dt_projs_weight", b + "op.dt_projs_bias",
                     b + "op.A_logs", b + "op.Ds", b + "op.out_norm.weight", b + "op.out_norm.bias",
                     b + "op.out_proj.weight", b + "norm2.weight", b + "norm2.bias",
                     b + "mlp.fc1.weight", b + "mlp.fc1.bias", b + "mlp.fc2.weight", b + "mlp.fc2.bias"]
        if i < len(c["depths"]) - 1:
            keys += ["layers.%d.downsample.%d.%s" % (i, n, p) for n in (1, 3) for p in ("weight", "bias")]
    keys += ["classifier.norm.weight", "classifier.norm.bias", "classifier.head.weight", "classifier.head.bias"]
    return keys


def verify_file(path, c):
    """Read back: keys, strict load into a fresh model, re-run in float64, compare."""
    t, meta = st_io.load(path)
    wkeys = sorted(k for k in t if k != "input" and not k.startswith("ref."))
    assert wkeys == sorted(expected_keys(c)), "key set differs from the official layout"
    m = vr.VSSM(**model_cfg(c))
    m.load_state_dict({k: t[k] for k in wkeys}, strict=True)
    with torch.no_grad():
        out = m.double().forward_all(t["input"].double())
    return max(rel(t["ref." + k], out[k]) for k in out), meta


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", nargs=2, metavar=("ARCH", "OUT"), help="write one full-size file (%s)" % ", ".join(FULL_ARCHS))
    ap.add_argument("--f32", action="store_true", help="with --full: compute the reference in float32 (faster)")
    ap.add_argument("--size", type=int, default=224, help="with --full: input height and width")
    ap.add_argument("--check", action="store_true", help="run the self-checks only")
    ap.add_argument("--out-dir", default=OUT_DIR)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    ok = self_checks()
    if args.check:
        return 0 if ok else 1
    if not ok:
        print("SELF-CHECK FAILED", file=sys.stderr)
        return 1

    if args.full:
        arch, out = args.full
        if arch not in FULL_ARCHS:
            print("unknown arch %s (known: %s)" % (arch, ", ".join(FULL_ARCHS)), file=sys.stderr)
            return 2
        c = dict(name=arch, d_state=1, num_classes=1000, batch=1, height=args.size, width=args.size,
                 seed=2024, **FULL_ARCHS[arch])
        t0 = time.time()
        model = vr.make_model(c["seed"], **model_cfg(c))
        g = torch.Generator().manual_seed(c["seed"] + 7919)
        x = torch.randn(1, 3, c["height"], c["width"], generator=g)
        with torch.no_grad():
            run = model if args.f32 else copy.deepcopy(model).double()
            outs = run.forward_all(x if args.f32 else x.double())
        tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tensors["input"] = x
        tensors.update({"ref." + k: v.float().contiguous() for k, v in outs.items()})
        meta = metadata(c, model)
        meta["ref_dtype"] = "float32" if args.f32 else "float64"
        meta["arch_name"] = arch
        st_io.save(out, tensors, meta)
        nparam = sum(p.numel() for p in model.parameters())
        print("%s: %d params, forward (%s) + write %.1f s, %s (%.1f MB), logits[0,:5] %s" % (
            arch, nparam, meta["ref_dtype"], time.time() - t0, out, os.path.getsize(out) / 2**20,
            [round(v, 5) for v in outs["logits"][0, :5].tolist()]))
        return 0

    os.makedirs(args.out_dir, exist_ok=True)
    total = 0
    for c in CONFIGS:
        t0 = time.time()
        tensors, meta, stats = build_tensors(c)
        path = os.path.join(args.out_dir, c["name"] + ".safetensors")
        st_io.save(path, tensors, meta)
        size = os.path.getsize(path)
        total += size
        back, _ = verify_file(path, c)
        print("%-12s %7.1f KB  %.1fs  f32-vs-f64 max rel: %s" % (
            c["name"], size / 1024, time.time() - t0,
            " ".join("%s=%.1e" % (k, v) for k, v in stats.items())))
        print("%-12s readback + strict load + rerun: max rel diff vs stored refs %.1e" % ("", back))
        if size > MAX_FILE_BYTES:
            print("WARNING: %s is over %d KB" % (path, MAX_FILE_BYTES // 1024), file=sys.stderr)
    print("total %.1f KB" % (total / 1024))
    if total > MAX_TOTAL_BYTES:
        print("WARNING: total over %d KB" % (MAX_TOTAL_BYTES // 1024), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
