"""PyTorch reference of VMamba (VSSM v2) as released: forward type v05_noz, norm ln2d,
patch embed v2, downsample v3. Written for clarity, not speed: the selective scan is a
plain loop over the sequence.

Parameter names and shapes equal the official state-dict keys (MzeroMiko/VMamba,
classification/models/vmamba.py), so `load_state_dict(official["model"], strict=True)`
works. Runs on Debian's python3-torch (1.13) with no other dependency.

Layout is NCHW (channel first) throughout, as in the official ln2d models.
"""

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

K_DIRS = 4  # cross-scan directions


# ---------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------

class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW tensor, at each pixel (eps 1e-5)."""

    def forward(self, x):  # x: (B, C, H, W)
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Linear2d(nn.Linear):
    """1x1 convolution whose weight is stored 2-D (out, in), like nn.Linear."""

    def forward(self, x):  # x: (B, Cin, H, W) -> (B, Cout, H, W)
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = Linear2d(d, hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = Linear2d(hidden, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


# ---------------------------------------------------------------------------------------
# Cross scan / selective scan / cross merge
# ---------------------------------------------------------------------------------------

def cross_scan(x):
    """x: (B, D, H, W) -> xs: (B, 4, D, L). k0 row-major, k1 column-major, k2/k3 reversed."""
    B, D, H, W = x.shape
    L = H * W
    k0 = x.reshape(B, D, L)
    k1 = x.transpose(2, 3).reshape(B, D, L)
    return torch.stack([k0, k1, k0.flip(-1), k1.flip(-1)], dim=1)


def cross_merge(ys, H, W):
    """ys: (B, 4, D, L) in each direction's own order -> y: (B, D, H, W) summed on the grid."""
    B, K, D, L = ys.shape
    row = ys[:, 0] + ys[:, 2].flip(-1)                      # row-major token order
    col = ys[:, 1] + ys[:, 3].flip(-1)                      # column-major token order
    col = col.reshape(B, D, W, H).transpose(2, 3).reshape(B, D, L)
    return (row + col).reshape(B, D, H, W)


def selective_scan_seq(u, delta, A, Bs, Cs, Dskip):
    """The plain recurrence, one step per token.

    u, delta: (B, K, D, L); A: (K, D, N); Bs, Cs: (B, K, N, L); Dskip: (K, D).
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t ; y_t = <C_t, h_t> + D u_t ; h_{-1} = 0.
    Returns y: (B, K, D, L).
    """
    Bsz, K, D, L = u.shape
    N = A.shape[-1]
    h = u.new_zeros(Bsz, K, D, N)
    ys = []
    for t in range(L):
        dt = delta[..., t].unsqueeze(-1)                     # (B, K, D, 1)
        h = torch.exp(dt * A) * h + dt * Bs[:, :, None, :, t] * u[..., t].unsqueeze(-1)
        ys.append((h * Cs[:, :, None, :, t]).sum(-1))        # (B, K, D)
    y = torch.stack(ys, dim=-1)
    return y + Dskip[None, :, :, None] * u


class SS2D(nn.Module):
    """SS2D, forward type v05_noz: no z gate, no activation after in_proj."""

    def __init__(self, d_model, d_state=1, ssm_ratio=1.0, dt_rank="auto"):
        super().__init__()
        self.d_model = d_model
        self.d_inner = di = int(ssm_ratio * d_model)
        self.d_state = N = d_state
        self.dt_rank = R = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.in_proj = Linear2d(d_model, di, bias=False)
        self.conv2d = nn.Conv2d(di, di, kernel_size=3, padding=1, groups=di, bias=False)
        self.act = nn.SiLU()
        self.x_proj_weight = nn.Parameter(torch.empty(K_DIRS, R + 2 * N, di))
        self.dt_projs_weight = nn.Parameter(torch.empty(K_DIRS, di, R))
        self.dt_projs_bias = nn.Parameter(torch.empty(K_DIRS, di))
        self.A_logs = nn.Parameter(torch.empty(K_DIRS * di, N))
        self.Ds = nn.Parameter(torch.empty(K_DIRS * di))
        self.out_norm = LayerNorm2d(di)
        self.out_proj = Linear2d(di, d_model, bias=False)

    def ssm(self, x, scan=selective_scan_seq):
        """x: (B, d_inner, H, W) after conv+SiLU -> merged scan output (B, d_inner, H, W)."""
        B, D, H, W = x.shape
        K, N, R = K_DIRS, self.d_state, self.dt_rank
        xs = cross_scan(x)                                             # (B, K, D, L)
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)  # (B, K, R+2N, L)
        dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)
        delta = F.softplus(dts + self.dt_projs_bias[None, :, :, None])  # beta 1, threshold 20
        A = -torch.exp(self.A_logs).reshape(K, D, N)
        ys = scan(xs, delta, A, Bs, Cs, self.Ds.reshape(K, D))
        return cross_merge(ys, H, W)

    def forward(self, x):
        x = self.in_proj(x)
        x = self.act(self.conv2d(x))
        y = self.out_norm(self.ssm(x))
        return self.out_proj(y)


class VSSBlock(nn.Module):
    def __init__(self, d, d_state, ssm_ratio, dt_rank, mlp_ratio):
        super().__init__()
        self.norm = LayerNorm2d(d)
        self.op = SS2D(d, d_state=d_state, ssm_ratio=ssm_ratio, dt_rank=dt_rank)
        self.norm2 = LayerNorm2d(d)
        self.mlp = Mlp(d, int(d * mlp_ratio))

    def forward(self, x):
        x = x + self.op(self.norm(x))
        return x + self.mlp(self.norm2(x))


def _downsample_v3(d, d_out):
    # indices 0 and 2 are identities (permutes) in the official Sequential; keep them so
    # the keys come out as downsample.1.* and downsample.3.*
    return nn.Sequential(nn.Identity(), nn.Conv2d(d, d_out, 3, stride=2, padding=1),
                         nn.Identity(), LayerNorm2d(d_out))


def _patch_embed_v2(in_chans, C):
    # keys patch_embed.0 (conv), .2 (LN2d), .5 (conv), .7 (LN2d); the rest are identities
    # (permutes in the channel-last variant) and the GELU.
    return nn.Sequential(
        nn.Conv2d(in_chans, C // 2, 3, stride=2, padding=1), nn.Identity(), LayerNorm2d(C // 2),
        nn.Identity(), nn.GELU(),
        nn.Conv2d(C // 2, C, 3, stride=2, padding=1), nn.Identity(), LayerNorm2d(C))


class VSSM(nn.Module):
    def __init__(self, dims=96, depths=(2, 2, 8, 2), ssm_ratio=1.0, d_state=1, dt_rank="auto",
                 num_classes=1000, in_chans=3, mlp_ratio=4.0):
        super().__init__()
        if isinstance(dims, int):
            dims = [dims * 2 ** i for i in range(len(depths))]
        self.dims = list(dims)
        self.depths = list(depths)
        self.patch_embed = _patch_embed_v2(in_chans, dims[0])
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            blocks = nn.Sequential(*[VSSBlock(dims[i], d_state, ssm_ratio, dt_rank, mlp_ratio)
                                     for _ in range(depth)])
            down = _downsample_v3(dims[i], dims[i + 1]) if i < len(depths) - 1 else nn.Identity()
            self.layers.append(nn.Sequential(OrderedDict(blocks=blocks, downsample=down)))
        self.classifier = nn.Sequential(OrderedDict(
            norm=LayerNorm2d(dims[-1]),
            avgpool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(1),
            head=nn.Linear(dims[-1], num_classes)))

    def forward_all(self, x):
        """Every intermediate the parity tests use: dict of NCHW tensors plus logits."""
        out = OrderedDict()
        x = self.patch_embed(x)
        out["patch_embed"] = x
        for i, layer in enumerate(self.layers):
            for j, blk in enumerate(layer.blocks):
                x = blk(x)
                if i == 0 and j == 0:
                    out["block0"] = x
            out["stage%d" % i] = x            # before this stage's downsample
            x = layer.downsample(x)
        out["logits"] = self.classifier(x)
        return out

    def forward_features(self, x):
        """List of the 4 per-stage feature maps (NCHW), each taken before the downsample."""
        o = self.forward_all(x)
        return [o["stage%d" % i] for i in range(len(self.layers))]

    def forward(self, x):
        return self.forward_all(x)["logits"]


# ---------------------------------------------------------------------------------------
# Deterministic, non-trivial initialisation (not the training init: every tensor gets
# random values so that no term of the forward pass can hide behind a zero or a one)
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def init_random(model, seed):
    g = torch.Generator().manual_seed(int(seed))

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    for name, mod in model.named_modules():
        if isinstance(mod, nn.LayerNorm):
            n = mod.weight.numel()
            mod.weight.copy_(1.0 + 0.1 * randn(n))
            mod.bias.copy_(0.1 * randn(n))
        elif isinstance(mod, (nn.Conv2d, nn.Linear)):
            w = mod.weight
            fan_in = w[0].numel()
            w.copy_(randn(*w.shape) / math.sqrt(fan_in))
            if mod.bias is not None:
                mod.bias.copy_(0.05 * randn(*mod.bias.shape))
        elif isinstance(mod, SS2D):
            K, di, N, R = K_DIRS, mod.d_inner, mod.d_state, mod.dt_rank
            mod.x_proj_weight.copy_(randn(K, R + 2 * N, di) / math.sqrt(di))
            s = R ** -0.5
            mod.dt_projs_weight.copy_((2.0 * rand(K, di, R) - 1.0) * s)
            # official dt init: dt log-uniform in [1e-3, 0.1], floor 1e-4, bias = softplus^-1(dt)
            lo, hi = math.log(1e-3), math.log(0.1)
            dt = torch.exp(rand(K, di) * (hi - lo) + lo).clamp(min=1e-4)
            mod.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            a = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(K * di, 1)
            mod.A_logs.copy_(a + 0.05 * randn(K * di, N))
            mod.Ds.copy_(1.0 + 0.1 * randn(K * di))
    return model


def make_model(seed, **cfg):
    return init_random(VSSM(**cfg), seed).eval()
