"""PyTorch reference of Vision Mamba's segmentation backbone as hustvl/Vim trains it
(seg/backbone/vim.py, VisionMambaSeg, in an mmseg EncoderDecoder with a UPerHead), written
from that description, not copied. Parameter names equal the checkpoint's under
'backbone.' (the decode head's under 'decode_head.', uperhead_ref.py).

What VisionMambaSeg does at test time, and this file the same way:
- no class token: __init__ deletes cls_token and keeps pos_embed[:, 1:], so the stored
  pos_embed (1, M0, D) has grid rows only; tokens = patch_embed(x) + pos_embed.
- blocks as the classifier's (vim_ref.Block): residual stream h <- h + mixer(norm(h)).
- features: for each block i in out_indices (in block order), the block's returned
  `hidden_states`, i.e. its mixer output mixer(norm(h)) -- not the stream, not normed;
  norm_f is never applied to them. Each is reshaped to (B, D, gh, gw).
- if_fpn (default True), by patch size:
    16: fpn1 = ConvTranspose2d(D, D, 2, 2) -> BatchNorm2d -> GELU -> ConvTranspose2d(D, D, 2, 2)
        (stride 4), fpn2 = ConvTranspose2d (stride 8), fpn3 = identity (16), fpn4 = MaxPool2d(2) (32)
     8: fpn1 = ConvTranspose2d, fpn2 = identity, fpn3 = MaxPool2d(2), fpn4 = MaxPool2d(4)
  one feature alone is used for all four levels.
Resolution change (the official forward adds pos_embed as stored, so it needs the training
grid): the grid rows are resampled with F.interpolate(mode='bicubic', align_corners=False),
as vim_ref.resample_pos_embed does without the class row.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

import uperhead_ref as U
import vim_ref as vr


def resample_grid(pos, gh0, gw0, gh, gw):
    """pos (1, gh0*gw0, D), grid rows only -> (1, gh*gw, D), bicubic, align_corners False."""
    if (gh, gw) == (gh0, gw0):
        return pos
    D = pos.shape[-1]
    g = pos.reshape(1, gh0, gw0, D).permute(0, 3, 1, 2)
    g = F.interpolate(g, size=(gh, gw), mode="bicubic", align_corners=False)
    return g.permute(0, 2, 3, 1).reshape(1, gh * gw, D)


class VimSegBackbone(nn.Module):
    def __init__(self, embed_dim, depth, out_indices, d_state=16, patch_size=16, stride=16, pos_grid=(32, 32),
                 in_chans=3, d_conv=4, expand=2, divide_out=True, if_fpn=True):
        super().__init__()
        D = embed_dim
        self.d, self.patch, self.stride, self.pos_grid = D, patch_size, stride, tuple(pos_grid)
        self.out_indices = list(out_indices)
        self.patch_embed = vr.PatchEmbed(in_chans, D, patch_size, stride)
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid[0] * pos_grid[1], D))
        self.layers = nn.ModuleList([vr.Block(D, d_state=d_state, d_conv=d_conv, expand=expand, divide_out=divide_out)
                                     for _ in range(depth)])
        self.norm_f = vr.RMSNorm(D)   # in every checkpoint; the features never use it
        self.if_fpn = if_fpn
        if if_fpn and patch_size == 16:
            self.fpn1 = nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2), nn.BatchNorm2d(D), nn.GELU(),
                                      nn.ConvTranspose2d(D, D, 2, 2))
            self.fpn2 = nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2))
            self.fpn3 = nn.Identity()
            self.fpn4 = nn.MaxPool2d(2, 2)
        elif if_fpn and patch_size == 8:
            self.fpn1 = nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2))
            self.fpn2 = nn.Identity()
            self.fpn3 = nn.Sequential(nn.MaxPool2d(2, 2))
            self.fpn4 = nn.Sequential(nn.MaxPool2d(4, 4))

    def grid(self, H, W):
        return (H - self.patch) // self.stride + 1, (W - self.patch) // self.stride + 1

    def taps(self, x):
        """the block outputs at out_indices, each (B, D, gh, gw), in block order"""
        B = x.shape[0]
        gh, gw = self.grid(x.shape[2], x.shape[3])
        h = self.patch_embed.proj(x).flatten(2).transpose(1, 2) + resample_grid(self.pos_embed, *self.pos_grid, gh, gw)
        feats = []
        for i, blk in enumerate(self.layers):
            y = blk.mixer(blk.norm(h))
            if i in self.out_indices:
                feats.append(y.transpose(1, 2).reshape(B, self.d, gh, gw))
            h = h + y
        return feats

    def forward(self, x):
        feats = self.taps(x)
        if not self.if_fpn:
            return feats
        if len(feats) == 1:
            feats = feats * 4
        return [op(f) for op, f in zip([self.fpn1, self.fpn2, self.fpn3, self.fpn4], feats)]


def init_random_fpn(bb, seed):
    """the neck's transposed convs and BatchNorms, as uperhead_ref initialises a head's"""
    fpn = nn.ModuleList([getattr(bb, n) for n in ("fpn1", "fpn2", "fpn3", "fpn4") if hasattr(bb, n)])
    return U.init_random_head(fpn, seed)
