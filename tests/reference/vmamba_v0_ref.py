"""PyTorch reference of the first VMamba release (forward type "v0", the vssmtiny/small/base
checkpoints of January 2024): written for clarity, not speed.

Differences from v2 (vmamba_ref.py), read from MzeroMiko/VMamba classification/models/vmamba.py
(SS2D.__initv0__ / forwardv0, PatchMerging2D, VSSM._make_patch_embed) and the pre-February-2024
vmamba.py (PatchEmbed2D, VSSBlock with ln_1 / self_attention):
  - channel-last (B, H, W, C) with nn.LayerNorm (eps 1e-5) everywhere;
  - patch embed: a 4x4 stride-4 conv with bias, then LayerNorm (keys patch_embed.0, .2);
  - SS2D: in_proj (2*d_inner, d) gives x and z; depthwise 3x3 conv WITH bias, SiLU; the same
    cross-scan selective scan as v2 (d_state 16 in the releases); out = out_proj(out_norm(y) * SiLU(z));
  - block: x + SS2D(norm(x)) only (mlp_ratio 0: no norm2, no MLP);
  - downsample: PatchMerging2D: zero-pad odd H/W, gather (0,0), (1,0), (0,1), (1,1), LayerNorm(4C),
    Linear(4C -> C', no bias);
  - classifier: LayerNorm, average pool, Linear.
Keys equal today's official names; old_names() gives the names the first release saved.
"""

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

import vmamba_ref as vr


class SS2Dv0(vr.SS2D):
    """SS2D, forward type v0 (z gate, conv bias), channel-last."""

    def __init__(self, d_model, d_state=16, ssm_ratio=2.0, dt_rank="auto"):
        super().__init__(d_model, d_state=d_state, ssm_ratio=ssm_ratio, dt_rank=dt_rank)
        di = self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * di, bias=False)
        self.conv2d = nn.Conv2d(di, di, kernel_size=3, padding=1, groups=di, bias=True)
        self.out_norm = nn.LayerNorm(di)
        self.out_proj = nn.Linear(di, d_model, bias=False)

    def forward(self, x):  # (B, H, W, d)
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = self.act(self.conv2d(x.permute(0, 3, 1, 2)))
        y = self.ssm(x).permute(0, 2, 3, 1)                    # (B, H, W, d_inner)
        return self.out_proj(self.out_norm(y) * F.silu(z))


class VSSBlockV0(nn.Module):
    def __init__(self, d, d_state, ssm_ratio, dt_rank):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.op = SS2Dv0(d, d_state=d_state, ssm_ratio=ssm_ratio, dt_rank=dt_rank)

    def forward(self, x):
        return x + self.op(self.norm(x))


class PatchMerging2D(nn.Module):
    def __init__(self, d, d_out):
        super().__init__()
        self.reduction = nn.Linear(4 * d, d_out, bias=False)
        self.norm = nn.LayerNorm(4 * d)

    def forward(self, x):  # (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), C')
        H, W = x.shape[1], x.shape[2]
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class ToNHWC(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class VSSMv0(nn.Module):
    def __init__(self, dims=96, depths=(2, 2, 9, 2), ssm_ratio=2.0, d_state=16, dt_rank="auto",
                 num_classes=1000, in_chans=3):
        super().__init__()
        if isinstance(dims, int):
            dims = [dims * 2 ** i for i in range(len(depths))]
        self.dims, self.depths = list(dims), list(depths)
        self.patch_embed = nn.Sequential(nn.Conv2d(in_chans, dims[0], 4, stride=4), ToNHWC(), nn.LayerNorm(dims[0]))
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            blocks = nn.Sequential(*[VSSBlockV0(dims[i], d_state, ssm_ratio, dt_rank) for _ in range(depth)])
            down = PatchMerging2D(dims[i], dims[i + 1]) if i < len(depths) - 1 else nn.Identity()
            self.layers.append(nn.Sequential(OrderedDict(blocks=blocks, downsample=down)))
        self.classifier = nn.Sequential(OrderedDict(norm=nn.LayerNorm(dims[-1]), head=nn.Linear(dims[-1], num_classes)))

    def forward_all(self, x):
        """Every intermediate the parity tests use, as NCHW (the vector files' layout), plus logits."""
        out = OrderedDict()
        nchw = lambda t: t.permute(0, 3, 1, 2)
        x = self.patch_embed(x)
        out["patch_embed"] = nchw(x)
        for i, layer in enumerate(self.layers):
            for j, blk in enumerate(layer.blocks):
                x = blk(x)
                if i == 0 and j == 0:
                    out["block0"] = nchw(x)
            out["stage%d" % i] = nchw(x)
            x = layer.downsample(x)
        out["logits"] = self.classifier.head(self.classifier.norm(x).mean(dim=(1, 2)))
        return out

    def forward(self, x):
        return self.forward_all(x)["logits"]


def old_names(state):
    """Today's keys -> the first release's (what VSSM._load_from_state_dict maps back)."""
    out = OrderedDict()
    for k, v in state.items():
        n = k.replace("patch_embed.0.", "patch_embed.proj.").replace("patch_embed.2.", "patch_embed.norm.")
        n = n.replace(".op.", ".self_attention.")
        if ".blocks." in n and ".norm." in n and ".self_attention." not in n:
            n = n.replace(".norm.", ".ln_1.")
        if n.startswith("classifier."):
            n = n[len("classifier."):]
        out[n] = v
    return out


def make_model(seed, **cfg):
    model = VSSMv0(**cfg)
    vr.init_random(model, seed)
    return model.eval()
