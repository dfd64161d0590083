#!/usr/bin/python3
"""Write the Vim parity vectors (tests/data/vim/*.safetensors) and check the reference.

    /usr/bin/python3 tests/reference/gen_vim_vectors.py            # self-checks + all files
    /usr/bin/python3 tests/reference/gen_vim_vectors.py --check    # self-checks only

Each file holds every weight under its official key (F32), "input" (B, 3, H, W) and the
reference activations "ref.*" computed in float64 from the F32-rounded weights and input,
stored as F32: ref.embed (B, L, D) tokens after class-token insertion + pos_embed,
ref.block0 (B, L, D) the residual stream after layers.0, ref.pos (1, L, D) the position
embedding used (resampled when the grid differs), ref.tokens (B, gh, gw, D) the final
normed tokens without the class token, ref.cls (B, D), ref.logits (B, classes). Files with
"os.template"/"os.search" also hold ref.os_search (one-stream tracking mode).
"""

import argparse
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vim_ref as vr  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "data", "vim"))
MAX_TOTAL_BYTES = 1536 * 1024

CONFIGS = [
    # training grid = input grid (no resampling), batch 2; plus the one-stream mode
    dict(name="sq_b2", embed_dim=8, depth=2, d_state=16, patch_size=16, stride=16, pos_grid=(4, 4),
         num_classes=10, batch=2, height=64, width=64, seed=2001,
         onestream=dict(template=(32, 32), search=(64, 48))),
    # H != W and a grid (5x3, M = 15 odd) that forces pos_embed resampling; depth 3
    dict(name="rect_resample", embed_dim=12, depth=3, d_state=16, patch_size=16, stride=16, pos_grid=(4, 4),
         num_classes=7, batch=2, height=80, width=48, seed=2002),
    # stride-8 patch embed (overlapping patches), d_state 8, depth 4, 6x4 grid from a 5x5 one
    dict(name="stride8_ds8", embed_dim=8, depth=4, d_state=8, patch_size=16, stride=8, pos_grid=(5, 5),
         num_classes=5, batch=1, height=56, width=40, seed=2003),
    # no divide-by-2 (if_divide_out False), d_model 20 (dt_rank 2), non-square patch grid kept
    dict(name="nodiv_d20", embed_dim=20, depth=2, d_state=16, patch_size=8, stride=8, pos_grid=(3, 5),
         num_classes=6, batch=3, height=24, width=40, seed=2004, divide_out=False),
]


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()


def model_cfg(c):
    return dict(embed_dim=c["embed_dim"], depth=c["depth"], d_state=c["d_state"], patch_size=c["patch_size"],
                stride=c["stride"], pos_grid=c["pos_grid"], num_classes=c["num_classes"],
                divide_out=c.get("divide_out", True))


def metadata(c):
    m = {
        "format": "vssm-test-vectors",
        "arch": "vim",
        "embed_dim": str(c["embed_dim"]),
        "depth": str(c["depth"]),
        "d_state": str(c["d_state"]),
        "patch_size": str(c["patch_size"]),
        "stride": str(c["stride"]),
        "pos_grid": "%d,%d" % tuple(c["pos_grid"]),
        "num_classes": str(c["num_classes"]),
        "divide_out": "1" if c.get("divide_out", True) else "0",
        "batch": str(c["batch"]),
        "height": str(c["height"]),
        "width": str(c["width"]),
        "seed": str(c["seed"]),
        "ref_dtype": "float64",
    }
    if "onestream" in c:
        m["os_template"] = "%d,%d" % c["onestream"]["template"]
        m["os_search"] = "%d,%d" % c["onestream"]["search"]
    return m


def build_tensors(c):
    model = vr.make_model(c["seed"], **model_cfg(c)).float()
    g = torch.Generator().manual_seed(c["seed"] + 7919)
    x = torch.randn(c["batch"], 3, c["height"], c["width"], generator=g)
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors["input"] = x
    stats = {}
    with torch.no_grad():
        m64 = copy.deepcopy(model).double()
        out64 = m64.forward_all(x.double())
        out32 = model.forward_all(x)
        gh, gw = model.grid(c["height"], c["width"])
        out64["pos"] = vr.resample_pos_embed(m64.pos_embed, *c["pos_grid"], gh, gw)
        out32["pos"] = vr.resample_pos_embed(model.pos_embed, *c["pos_grid"], gh, gw)
        if "onestream" in c:
            (zh, zw), (sh, sw) = c["onestream"]["template"], c["onestream"]["search"]
            z = torch.randn(c["batch"], 3, zh, zw, generator=g)
            s = torch.randn(c["batch"], 3, sh, sw, generator=g)
            tensors["os.template"], tensors["os.search"] = z, s
            out64["os_search"] = m64.forward_onestream(z.double(), s.double())
            out32["os_search"] = model.forward_onestream(z, s)
        stats = {k: rel(out32[k], out64[k]) for k in out64}
    for k, v in out64.items():
        tensors["ref." + k] = v.float().contiguous()
    return tensors, metadata(c), stats


def self_checks():
    """The sequential scan against a closed form; bicubic resampling against a hand-written
    one-dimensional Keys kernel; the mixer's flip against an explicit reversed loop."""
    torch.manual_seed(0)
    B, Di, N, L = 2, 3, 4, 9
    u = torch.randn(B, Di, L, dtype=torch.float64)
    delta = F.softplus(torch.randn(B, Di, L, dtype=torch.float64))
    A = -torch.rand(Di, N, dtype=torch.float64) * 2
    Bs, Cs = torch.randn(B, N, L, dtype=torch.float64), torch.randn(B, N, L, dtype=torch.float64)
    Dk, z = torch.randn(Di, dtype=torch.float64), torch.randn(B, Di, L, dtype=torch.float64)
    y = vr.selective_scan_seq(u, delta, A, Bs, Cs, Dk, z)
    S = torch.cumsum(delta[..., None] * A[None, :, None, :], dim=2)  # (B, Di, L, N)
    y2 = torch.zeros_like(y)
    for t in range(L):
        h = torch.zeros(B, Di, N, dtype=torch.float64)
        for s in range(t + 1):
            h += torch.exp(S[:, :, t] - S[:, :, s]) * (delta[:, :, s, None] * Bs[:, None, :, s] * u[:, :, s, None])
        y2[:, :, t] = (h * Cs[:, None, :, t]).sum(-1) + Dk * u[:, :, t]
    y2 = y2 * F.silu(z)
    print("scan vs closed form: %.2e" % rel(y, y2))

    # bicubic (align_corners False, A = -0.75, indices clamped at the border) by hand
    def keys(t, a=-0.75):
        t = abs(t)
        if t <= 1:
            return ((a + 2) * t - (a + 3)) * t * t + 1
        if t < 2:
            return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return 0.0

    def resize1d(v, n):
        m, out = len(v), []
        for i in range(n):
            src = (i + 0.5) * m / n - 0.5
            f = int(torch.floor(torch.tensor(src)).item())
            t = src - f
            acc = 0.0
            for k in range(-1, 3):
                acc += keys(t - k) * v[min(max(f + k, 0), m - 1)]
            out.append(acc)
        return out

    g = torch.randn(1, 1, 4, 5, dtype=torch.float64)
    r = F.interpolate(g, size=(7, 3), mode="bicubic", align_corners=False)
    rows = [resize1d(g[0, 0, i].tolist(), 3) for i in range(4)]
    cols = [resize1d([rows[i][j] for i in range(4)], 7) for j in range(3)]
    hand = torch.tensor([[cols[j][i] for j in range(3)] for i in range(7)], dtype=torch.float64)
    print("bicubic vs Keys kernel by hand: %.2e" % rel(r[0, 0], hand))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    self_checks()
    if args.check:
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for c in CONFIGS:
        tensors, meta, stats = build_tensors(c)
        path = os.path.join(OUT_DIR, c["name"] + ".safetensors")
        st_io.save(path, tensors, meta)
        size = os.path.getsize(path)
        total += size
        print("%-14s %7d bytes  f32 vs f64: %s" % (c["name"], size, ", ".join("%s %.1e" % kv for kv in sorted(stats.items()))))
        # read back: strict load into a fresh model, rerun in float64
        t2, _ = st_io.load(path)
        m = vr.VisionMamba(**model_cfg(c))
        m.load_state_dict({k: v for k, v in t2.items() if not k.startswith("ref.") and not k.startswith("input")
                           and not k.startswith("os.")}, strict=True)
        with torch.no_grad():
            o = m.double().forward_all(t2["input"].double())
        assert rel(o["logits"], t2["ref.logits"]) < 1e-6, "read-back mismatch"
    # an official-style checkpoint: torch.save({'model': state_dict, ...}) of sq_b2's weights,
    # plus the non-tensor entries a training run stores next to it
    t2, _ = st_io.load(os.path.join(OUT_DIR, "sq_b2.safetensors"))
    sd = {k: v for k, v in sorted(t2.items()) if not k.startswith(("ref.", "input", "os."))}
    pth = os.path.join(OUT_DIR, "sq_b2_model.pth")
    torch.save({"model": sd, "epoch": 299, "args": {"model": "vim_tiny_like"}}, pth)
    total += os.path.getsize(pth)
    print("sq_b2_model.pth %d bytes" % os.path.getsize(pth))
    print("total %d bytes" % total)
    assert total <= MAX_TOTAL_BYTES


if __name__ == "__main__":
    main()
