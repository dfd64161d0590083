"""PyTorch reference of Vision Mamba (Vim) as released (hustvl/Vim, vim/models_mamba.py,
the "*_bimambav2_final_pool_mean_abs_pos_embed_with_midclstok_div2" builders; the mixer is
mamba-1p1p1/mamba_ssm/modules/mamba_simple.py with bimamba_type "v2"). Written for
clarity, not speed: the selective scan is a plain loop over the sequence, the fused
add+RMSNorm and the CUDA kernels are spelled out in plain torch.

Parameter names and shapes equal the official state-dict keys, so an official 'model'
state dict loads with strict=True (rope, double cls tokens, layer scale are not modelled).
Runs on Debian's python3-torch (1.13) with no other dependency.

What the official forward does, and what this file does the same way:
- patch_embed.proj: Conv2d(in, D, patch, stride) without padding; tokens row-major.
- the class token is inserted at token_position = M // 2 (M = number of patches), then
  pos_embed (1, M0 + 1, D) is added (its row M0 // 2 belongs to the class token).
- blocks: Add -> RMSNorm -> Mixer with the residual in fp32; the first block gets
  residual = hidden. That equals the pre-norm stream x <- x + mixer(norm(x)).
- final: residual + hidden -> norm_f (RMSNorm); the head reads the class token
  (if_cls_token wins over final_pool_type 'mean').
- mixer (v2): xz = in_proj(h) (no bias); forward branch y_f = scan(SiLU(conv1d(x))) *
  SiLU(z); backward branch the same on xz.flip(L) with the *_b parameters; out =
  out_proj((y_f + y_b.flip(L)) / 2) (if_divide_out) or without / 2.
- selective scan: delta = softplus(dt_proj.weight @ dt + dt_proj.bias) (threshold 20),
  A = -exp(A_log), h_t = exp(delta A) h_{t-1} + delta B_t u_t, y_t = C_t . h_t + D u_t.

Resolution change (not in the official classification code, which asserts the training
size): resample_pos_embed takes the class token's row out, resamples the grid rows with
F.interpolate(mode='bicubic', align_corners=False) (no antialias), and puts the class row
back at the new M // 2.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """mamba_ssm's RMSNorm: x * rsqrt(mean(x^2) + eps) * weight (no bias)."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def selective_scan_seq(u, delta, A, Bs, Cs, Dskip, z):
    """u, delta, z: (B, Di, L); A: (Di, N); Bs, Cs: (B, N, L); Dskip: (Di) -> (B, Di, L)."""
    Bb, Di, L = u.shape
    h = u.new_zeros(Bb, Di, A.shape[1])
    ys = []
    for t in range(L):
        dA = torch.exp(delta[:, :, t, None] * A[None])
        h = dA * h + delta[:, :, t, None] * Bs[:, None, :, t] * u[:, :, t, None]
        ys.append((h * Cs[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1) + Dskip[None, :, None] * u
    return y * F.silu(z)


class Mamba(nn.Module):
    """mamba_simple.Mamba, bimamba_type v2, conv_bias True, bias False."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", divide_out=True):
        super().__init__()
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.d_state = d_state
        self.d_conv = d_conv
        self.divide_out = divide_out
        Di, R, N = self.d_inner, self.dt_rank, d_state
        self.in_proj = nn.Linear(d_model, 2 * Di, bias=False)
        self.conv1d = nn.Conv1d(Di, Di, d_conv, groups=Di, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(Di, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, Di, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(Di, 1))
        self.D = nn.Parameter(torch.ones(Di))
        self.A_b_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(Di, 1))
        self.conv1d_b = nn.Conv1d(Di, Di, d_conv, groups=Di, padding=d_conv - 1, bias=True)
        self.x_proj_b = nn.Linear(Di, R + 2 * N, bias=False)
        self.dt_proj_b = nn.Linear(R, Di, bias=True)
        self.D_b = nn.Parameter(torch.ones(Di))
        self.out_proj = nn.Linear(Di, d_model, bias=False)

    def branch(self, x, z, conv, x_proj, dt_proj, A_log, Dskip):
        """x, z: (B, Di, L) -> gated y (B, Di, L)."""
        L = x.shape[-1]
        x = F.silu(conv(x)[..., :L])                       # causal depthwise conv + SiLU
        xdbl = x_proj(x.transpose(1, 2))                   # (B, L, R+2N)
        dt, Bs, Cs = torch.split(xdbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(dt @ dt_proj.weight.t() + dt_proj.bias)   # (B, L, Di), threshold 20
        A = -torch.exp(A_log)
        return selective_scan_seq(x, delta.transpose(1, 2), A, Bs.transpose(1, 2), Cs.transpose(1, 2), Dskip, z)

    def forward(self, h):  # (B, L, D)
        xz = (h @ self.in_proj.weight.t()).transpose(1, 2)  # (B, 2Di, L)
        x, z = xz.chunk(2, dim=1)
        y = self.branch(x, z, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D)
        yb = self.branch(x.flip(-1), z.flip(-1), self.conv1d_b, self.x_proj_b, self.dt_proj_b, self.A_b_log, self.D_b)
        s = (y + yb.flip(-1)).transpose(1, 2)
        if self.divide_out:
            s = s / 2
        return self.out_proj(s)


class Block(nn.Module):
    def __init__(self, d_model, **kw):
        super().__init__()
        self.mixer = Mamba(d_model, **kw)
        self.norm = RMSNorm(d_model)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans, d, patch, stride):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, d, patch, stride)


def resample_pos_embed(pos, gh0, gw0, gh, gw):
    """pos (1, gh0*gw0 + 1, D) with the class row at (gh0*gw0)//2 -> (1, gh*gw + 1, D)
    with the class row at (gh*gw)//2; grid rows resampled bicubically (align_corners False)."""
    M0, M = gh0 * gw0, gh * gw
    if (gh, gw) == (gh0, gw0):
        return pos
    c0 = M0 // 2
    cls = pos[:, c0:c0 + 1]
    grid = torch.cat([pos[:, :c0], pos[:, c0 + 1:]], dim=1)
    D = pos.shape[-1]
    g = grid.reshape(1, gh0, gw0, D).permute(0, 3, 1, 2)
    g = F.interpolate(g, size=(gh, gw), mode="bicubic", align_corners=False)
    g = g.permute(0, 2, 3, 1).reshape(1, M, D)
    c = M // 2
    return torch.cat([g[:, :c], cls, g[:, c:]], dim=1)


class VisionMamba(nn.Module):
    def __init__(self, embed_dim=192, depth=24, d_state=16, patch_size=16, stride=16, pos_grid=(14, 14),
                 in_chans=3, num_classes=1000, d_conv=4, expand=2, divide_out=True):
        super().__init__()
        self.d = embed_dim
        self.patch, self.stride = patch_size, stride
        self.pos_grid = tuple(pos_grid)
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size, stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid[0] * pos_grid[1] + 1, embed_dim))
        self.layers = nn.ModuleList([Block(embed_dim, d_state=d_state, d_conv=d_conv, expand=expand,
                                           divide_out=divide_out) for _ in range(depth)])
        self.norm_f = RMSNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def grid(self, H, W):
        return (H - self.patch) // self.stride + 1, (W - self.patch) // self.stride + 1

    def embed(self, x):
        """x (B, C, H, W) -> tokens (B, M+1, D) with the class token at M//2, plus pos."""
        B = x.shape[0]
        gh, gw = self.grid(x.shape[2], x.shape[3])
        t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, M, D)
        M = t.shape[1]
        c = M // 2
        t = torch.cat([t[:, :c], self.cls_token.expand(B, -1, -1), t[:, c:]], dim=1)
        return t + resample_pos_embed(self.pos_embed, *self.pos_grid, gh, gw), c, (gh, gw)

    def blocks(self, x, taps=None):
        """pre-norm residual stream: x <- x + mixer(norm(x)), then norm_f."""
        for i, blk in enumerate(self.layers):
            x = x + blk.mixer(blk.norm(x))
            if taps is not None and i == 0:
                taps["block0"] = x
        return self.norm_f(x)

    def forward_all(self, x):
        out = {}
        t, c, (gh, gw) = self.embed(x)
        out["embed"] = t
        h = self.blocks(t, out)
        B, D = h.shape[0], h.shape[-1]
        out["cls"] = h[:, c]
        out["tokens"] = torch.cat([h[:, :c], h[:, c + 1:]], dim=1).reshape(B, gh, gw, D)
        out["logits"] = self.head(h[:, c])
        return out

    def forward_onestream(self, z, x):
        """OSTrack-style one stream: [template tokens + pos_z, search tokens + pos_x], no class
        token; returns the search tokens after norm_f as (B, gh_x, gw_x, D)."""
        D = self.d

        def toks(img):
            gh, gw = self.grid(img.shape[2], img.shape[3])
            t = self.patch_embed.proj(img).flatten(2).transpose(1, 2)
            pos = resample_pos_embed(self.pos_embed, *self.pos_grid, gh, gw)
            c = (gh * gw) // 2
            pos = torch.cat([pos[:, :c], pos[:, c + 1:]], dim=1)   # grid rows only
            return t + pos, gh, gw

        tz, _, _ = toks(z)
        tx, gh, gw = toks(x)
        h = self.blocks(torch.cat([tz, tx], dim=1))
        return h[:, tz.shape[1]:].reshape(x.shape[0], gh, gw, D)


def init_random(model, seed):
    """Deterministic weights in the ranges a trained Vim has."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            shp = p.shape
            if name.endswith("A_log") or name.endswith("A_b_log"):
                N = shp[1]
                p.copy_(torch.log(torch.arange(1, N + 1, dtype=torch.float64)).repeat(shp[0], 1)
                        + 0.3 * torch.randn(shp, generator=g, dtype=torch.float64))
            elif name.endswith("dt_proj.bias") or name.endswith("dt_proj_b.bias"):
                dt = torch.exp(torch.rand(shp, generator=g, dtype=torch.float64) * (math.log(0.1) - math.log(0.001))
                               + math.log(0.001))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))
            elif name.endswith(".D") or name.endswith(".D_b"):
                p.copy_(1 + 0.2 * torch.randn(shp, generator=g, dtype=torch.float64))
            elif "norm" in name:
                p.copy_(1 + 0.2 * torch.randn(shp, generator=g, dtype=torch.float64))
            elif p.dim() >= 2 and not name.endswith("pos_embed") and not name.endswith("cls_token"):
                fan_in = p[0].numel()
                p.copy_(torch.randn(shp, generator=g, dtype=torch.float64) / math.sqrt(fan_in))
            else:
                p.copy_(0.5 * torch.randn(shp, generator=g, dtype=torch.float64))
    return model


def make_model(seed, **cfg):
    return init_random(VisionMamba(**cfg), seed).eval()
