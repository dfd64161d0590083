"""Parity vectors for the hybrid decoding's last step (heads/track_head.c vssm_track_hybrid_box):
from the head's box and the scale search's box, the aspect pulled towards the head's (aspect_lr,
the scale box's area kept), the centre moved pos_lr of the way from the head's centre to the scale
box's, then OSTrack's clip_box (lib/test/utils: margin 10 px). Written here in float64 numpy in
OSTrack's own form (x2 = max(min(W, x2), margin), ...) and the aspect as a weighted geometric
mean (the C code goes through exp/log), over 400 random cases: boxes inside the frame, across its
edges, past it, smaller than the margin, larger than the frame; pos_lr and aspect_lr 0, 1, 0.5 and
random. Output: tests/data/track/hybrid_blend.safetensors (in: head box, scale box; lr: pos_lr,
aspect_lr; frame: W, H; out: the box), checked by test_track_scale to 1e-9 px.

    /usr/bin/python3 tests/reference/gen_track_blend_vectors.py
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_track_scale_vectors import st_save  # noqa: E402

OUT = os.path.join(HERE, "..", "data", "track", "hybrid_blend.safetensors")
MARGIN = 10.0
N = 400


def clip_box(box, H, W, margin):
    """OSTrack lib/test/utils clip_box, [x1, y1, w, h] (ostrack_ref.py has it too, but imports torch,
    and this generator runs without it, as gen_track_scale_vectors.py does)"""
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), W - margin)
    x2 = max(min(W, x2), margin)
    y1 = min(max(0.0, y1), H - margin)
    y2 = max(min(H, y2), margin)
    return [x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)]


def blend(hb, sb, pos_lr, aspect_lr, W, H):
    area = sb[2] * sb[3]
    r = (hb[2] / hb[3]) ** aspect_lr * (sb[2] / sb[3]) ** (1.0 - aspect_lr)  # the aspect, w / h
    w, h = np.sqrt(area * r), np.sqrt(area / r)
    hc = np.array([hb[0] + hb[2] / 2, hb[1] + hb[3] / 2])
    sc = np.array([sb[0] + sb[2] / 2, sb[1] + sb[3] / 2])
    c = (1.0 - pos_lr) * hc + pos_lr * sc
    return clip_box([c[0] - w / 2, c[1] - h / 2, w, h], H, W, MARGIN)


def main():
    rng = np.random.default_rng(20261204)
    ins, lrs, frames, outs = [], [], [], []
    for i in range(N):
        W, H = float(rng.integers(24, 900)), float(rng.integers(24, 900))
        kind = i % 4  # 0 inside, 1 across an edge, 2 tiny (< margin), 3 large / past the frame
        if kind == 0:
            w, h = rng.uniform(12, W / 2), rng.uniform(12, H / 2)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        elif kind == 1:
            w, h = rng.uniform(12, W / 2), rng.uniform(12, H / 2)
            x, y = rng.uniform(-w, W), rng.uniform(-h, H)
        elif kind == 2:
            w, h = rng.uniform(1, 9), rng.uniform(1, 9)
            x, y = rng.uniform(-5, W), rng.uniform(-5, H)
        else:
            w, h = rng.uniform(W / 2, 2 * W), rng.uniform(H / 2, 2 * H)
            x, y = rng.uniform(-w, W), rng.uniform(-h, H)
        hb = [x, y, w, h]
        s = np.exp(rng.uniform(-0.3, 0.3, 2))  # the scale box: another size and aspect, nearby
        sw, sh = w * s[0], h * s[1]
        sb = [x + w / 2 + rng.uniform(-0.3, 0.3) * w - sw / 2, y + h / 2 + rng.uniform(-0.3, 0.3) * h - sh / 2, sw, sh]
        pos_lr = [0.0, 1.0, 0.5, rng.uniform()][(i // 4) % 4]
        aspect_lr = [0.0, 1.0, 0.5, rng.uniform()][(i // 16) % 4]
        ins.append(hb + sb)
        lrs.append([pos_lr, aspect_lr])
        frames.append([W, H])
        outs.append(blend(hb, sb, pos_lr, aspect_lr, W, H))
    T = {"in": np.array(ins, np.float64), "lr": np.array(lrs, np.float64), "frame": np.array(frames, np.float64),
         "out": np.array(outs, np.float64)}
    st_save(OUT, T, {"generator": "tests/reference/gen_track_blend_vectors.py", "margin": repr(MARGIN)})
    clipped = sum(1 for o, f in zip(outs, frames) if o[0] == 0 or o[1] == 0 or o[0] + o[2] >= f[0] or
                  o[1] + o[3] >= f[1] or o[2] == MARGIN or o[3] == MARGIN)
    print("wrote %s: %d cases, %d touching the frame or the margin" % (os.path.normpath(OUT), N, clipped))


if __name__ == "__main__":
    main()
