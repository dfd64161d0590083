#!/usr/bin/python3
"""Write tests/data/train/scan_grads.safetensors: PyTorch autograd through the float64
selective scans of vmamba_ref.py (SS2D.ssm: cross-scan, x_proj, dt_proj, softplus, scan,
cross-merge) and vim_ref.py (Mamba's branch scan with its SiLU gate, forward and
flipped), for test_ops_bwd's ss2d_scan_bwd and scan1d_bwd cases (issue 20).

    /usr/bin/python3 tests/reference/gen_scan_grad_vectors.py

Every tensor is stored F32 in the C op's own layout (kernels/ops.h), so the test reads it
as is: inputs drawn in float32, the loss f = sum(dy * y) and its gradients computed in
float64 from those float32 values, the gradients rounded to float32 when stored.

  ss2d.{u (B,H,W,D), x_proj (K*(R+2N), D), dt_w (K,R,D), dt_b (K,D), A_logs (K,N,D), Ds (K,D), dy}
  ss2d.grad.{u, x_proj, dt_w, dt_b, A_logs, Ds}
  s1f.* / s1r.*: {u (B,L,D), xdbl (B,L,R+2N), z (B,L,D), dt_w (R,D), dt_b (D), A_logs (N,D), Ds (D), dy}
  and their .grad.* (s1r: the reverse walk, Vim's backward branch, in the original token order)
Shapes are in the metadata. Output is reproducible bit for bit (seeded torch.Generator).
"""

import math
import os
import sys

import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vim_ref  # noqa: E402
import vmamba_ref as vr  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "train", "scan_grads.safetensors"))
K = vr.K_DIRS
# 2D: L = 72 crosses the 64-step checkpoint chunk; D = 19 two 16-channel blocks; batch 2
S2 = dict(B=2, H=9, W=8, D=19, R=2, N=3)
# 1D: L = 70 (two chunks), D = 17, d_state 5
S1 = dict(B=2, L=70, D=17, R=3, N=5)


def dt_bias(g, n):
    """the official dt init (log-uniform in [1e-3, 0.1], softplus^-1), one entry above the
    softplus threshold 20 so the linear branch is covered too"""
    lo, hi = math.log(1e-3), math.log(0.1)
    dt = torch.exp(torch.rand(n, generator=g) * (hi - lo) + lo)
    b = dt + torch.log(-torch.expm1(-dt))
    b[1] = 25.0
    return b


def ss2d_case(g):
    B, H, W, D, R, N = (S2[k] for k in "BHWDRN")
    C2 = R + 2 * N
    t = {
        "u": torch.randn(B, H, W, D, generator=g),
        "x_proj": torch.randn(K * C2, D, generator=g) / math.sqrt(D),
        "dt_w": (2 * torch.rand(K, R, D, generator=g) - 1) / math.sqrt(R),
        "dt_b": dt_bias(g, K * D).reshape(K, D),
        "A_logs": torch.log(torch.arange(1, N + 1).float())[None, :, None].repeat(K, 1, D)
        + 0.3 * torch.randn(K, N, D, generator=g),
        "Ds": 1 + 0.3 * torch.randn(K, D, generator=g),
        "dy": torch.randn(B, H, W, D, generator=g),
    }
    m = vr.SS2D(D, d_state=N, ssm_ratio=1.0, dt_rank=R).double()
    with torch.no_grad():
        m.x_proj_weight.copy_(t["x_proj"].reshape(K, C2, D))
        m.dt_projs_weight.copy_(t["dt_w"].transpose(1, 2))
        m.dt_projs_bias.copy_(t["dt_b"])
        m.A_logs.copy_(t["A_logs"].transpose(1, 2).reshape(K * D, N))
        m.Ds.copy_(t["Ds"].reshape(K * D))
    u = t["u"].double().permute(0, 3, 1, 2).clone().requires_grad_(True)
    y = m.ssm(u)                                                  # (B, D, H, W)
    (y * t["dy"].double().permute(0, 3, 1, 2)).sum().backward()
    grads = {
        "u": u.grad.permute(0, 2, 3, 1),
        "x_proj": m.x_proj_weight.grad.reshape(K * C2, D),
        "dt_w": m.dt_projs_weight.grad.transpose(1, 2),
        "dt_b": m.dt_projs_bias.grad,
        "A_logs": m.A_logs.grad.reshape(K, D, N).transpose(1, 2),
        "Ds": m.Ds.grad.reshape(K, D),
    }
    return t, grads


def scan1d_case(g, reverse):
    B, L, D, R, N = (S1[k] for k in "BLDRN")
    t = {
        "u": torch.randn(B, L, D, generator=g),
        "xdbl": torch.randn(B, L, R + 2 * N, generator=g),
        "z": 2 * torch.randn(B, L, D, generator=g),
        "dt_w": (2 * torch.rand(R, D, generator=g) - 1) / math.sqrt(R),
        "dt_b": dt_bias(g, D),
        "A_logs": torch.log(torch.arange(1, N + 1).float())[:, None].repeat(1, D) + 0.3 * torch.randn(N, D, generator=g),
        "Ds": 1 + 0.3 * torch.randn(D, generator=g),
        "dy": torch.randn(B, L, D, generator=g),
    }
    leaf = {k: v.double().clone().requires_grad_(True) for k, v in t.items() if k != "dy"}
    u, xdbl, z = leaf["u"], leaf["xdbl"], leaf["z"]
    if reverse:   # Vim's backward branch: the flipped sequence, its output flipped back
        u, xdbl, z = u.flip(1), xdbl.flip(1), z.flip(1)
    dt, Bs, Cs = torch.split(xdbl, [R, N, N], dim=-1)
    delta = torch.nn.functional.softplus(dt @ leaf["dt_w"] + leaf["dt_b"])        # (B, L, D)
    A = -torch.exp(leaf["A_logs"]).t()                                            # (D, N)
    y = vim_ref.selective_scan_seq(u.transpose(1, 2), delta.transpose(1, 2), A, Bs.transpose(1, 2),
                                   Cs.transpose(1, 2), leaf["Ds"], z.transpose(1, 2)).transpose(1, 2)
    if reverse:
        y = y.flip(1)
    (y * t["dy"].double()).sum().backward()
    return t, {k: v.grad for k, v in leaf.items()}


def main():
    g = torch.Generator().manual_seed(2020)
    out, meta = {}, {"format": "vssm-test-vectors", "what": "selective scan gradients (PyTorch autograd, float64)"}
    for prefix, (t, gr) in (("ss2d", ss2d_case(g)), ("s1f", scan1d_case(g, False)), ("s1r", scan1d_case(g, True))):
        for k, v in t.items():
            out["%s.%s" % (prefix, k)] = v.float().contiguous()
        for k, v in gr.items():
            out["%s.grad.%s" % (prefix, k)] = v.float().contiguous()
            print("%s d%-7s max|g| %.4g" % (prefix, k, v.abs().max().item()))
    for k, v in list(S2.items()):
        meta["ss2d_" + k] = str(v)
    for k, v in list(S1.items()):
        meta["s1_" + k] = str(v)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    st_io.save(OUT, out, metadata=meta)
    print("wrote %s (%d bytes)" % (OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
