#!/usr/bin/python3
"""Make single-object tracking sequences in OTB layout from real data, with exact boxes.

Each sequence moves one real Fashion-MNIST item (Debian dataset-fashion-mnist,
/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz) over a real photo (the
python3-skimage data images, or tests/data/images when skimage is absent), on a smooth
random path, with a scale change (the item grows or shrinks by up to --scale-range over
the sequence) and a partial occlusion (a strip cut from another photo crosses the item,
covering at most about half of it, in the middle third of the sequence).

    /usr/bin/python3 datasets/make_track_demo.py --out /tmp/track_demo            # 8 x 120 frames
    /usr/bin/python3 datasets/make_track_demo.py --out DIR --seqs 2 --frames 12 \
        --size 160x120 --seed 3                                                   # a tiny fixture

Layout (OTB): DIR/<seq>/img/0001.jpg ..., DIR/<seq>/groundtruth_rect.txt with one box per
frame "x,y,w,h", 1-based like OTB (x = leftmost column + 1). The box is the exact extent
of the item's pixels (alpha >= 0.5 after the resize), occluded or not, as OTB annotates.
Also writes DIR/<seq>/occlusion.txt (fraction of the box covered, per frame) and
DIR/README.txt (the command that made it). Deterministic for a given --seed.

Training data (weights/train_track_head.py) comes from the same generator with other items
and more motion, disjoint from the held-out demo (which the defaults reproduce unchanged):

    /usr/bin/python3 datasets/make_track_demo.py --out /tmp/track_train --split train \
        --seqs 60 --frames 60 --seed 1 --camera 3 --more-backgrounds

--split train takes the items from Fashion-MNIST's 60k training images (the demo's come from
the 10k test images); --camera A moves a viewport over a larger copy of the background (a
smooth random pan of about A px per frame and a slow zoom of up to 10%), so that the whole
scene moves as under a moving camera while the item follows its own path in the frame;
--more-backgrounds adds the photographs of Debian's opencv-doc examples to skimage's.

Then: vssm track --weights W --dataset DIR --format otb --results RES
      vssm eval track --results RES --gt DIR --format otb --plot RES/plot.svg
"""

import argparse
import gzip
import os
import sys

import numpy as np
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist/%s-images-idx3-ubyte.gz"
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"
OPENCV_NAMES = ["baboon.jpg", "building.jpg", "fruits.jpg", "lena.jpg", "aero1.jpg", "apple.jpg", "board.jpg",
                "butterfly.jpg", "home.jpg", "orange.jpg", "graf1.png", "starry_night.jpg", "messi5.jpg",
                "pic1.png", "left01.jpg", "smarties.png", "sudoku.png", "HappyFish.jpg"]
SKIMAGE_NAMES = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                 "hubble_deep_field.jpg", "gravel.png", "grass.png", "brick.png", "retina.jpg"]
HERE = os.path.dirname(os.path.abspath(__file__))


def load_items(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, h, w = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051:
        sys.exit("%s: not an idx3 image file" % path)
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, h, w)


def background_paths(more=False):
    paths = []
    if more:
        paths += [os.path.join(OPENCV_DATA, n) for n in OPENCV_NAMES if os.path.exists(os.path.join(OPENCV_DATA, n))]
    try:
        import skimage
        d = os.path.join(os.path.dirname(skimage.__file__), "data")
        paths = [os.path.join(d, n) for n in SKIMAGE_NAMES if os.path.exists(os.path.join(d, n))]
    except ImportError:
        pass
    if len(paths) < 3:
        d = os.path.join(HERE, "..", "tests", "data", "images")
        paths += [os.path.join(d, n) for n in ("dog_400x300_420.jpg", "horses_481x321_422.jpg",
                                                "eagle_387x256_444.jpg", "chelsea_120x81.bmp")]
    return paths


def fit(img, W, H):
    """resize the photo to cover W x H, centre-crop"""
    s = max(W / img.width, H / img.height)
    img = img.resize((max(W, round(img.width * s)), max(H, round(img.height * s))), Image.BILINEAR)
    l, t = (img.width - W) // 2, (img.height - H) // 2
    return np.asarray(img.crop((l, t, l + W, t + H)), dtype=np.float32)


def render_item(item, side, tint):
    """the 28x28 item at side x side: RGB colour and alpha, and its exact pixel box"""
    a = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0
    mask = a >= 0.5
    ys, xs = np.nonzero(mask)
    rgb = a[..., None] * tint[None, None, :] * 255.0
    alpha = np.clip(a * 1.6, 0, 1)
    alpha[~mask] = 0.0          # the box is exact: nothing drawn outside the mask
    return rgb, alpha, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def camera_views(crng, photo, W, H, F, amp):
    """F frames of a viewport panning (about amp px a frame) and zooming (up to 10%) over photo"""
    M = int(round(amp * F / 4)) + 8
    canvas = Image.fromarray(fit(photo, W + 2 * M, H + 2 * M).astype(np.uint8))
    ox, oy, vx, vy = float(M), float(M), crng.normal(0, amp), crng.normal(0, amp)
    z0, z1 = crng.uniform(0.9, 1.0), crng.uniform(0.9, 1.0)
    views = []
    for t in range(F):
        z = z0 + (z1 - z0) * t / max(F - 1, 1)
        w, h = W * z, H * z
        ox = min(max(ox + vx, 0.0), W + 2 * M - w)
        oy = min(max(oy + vy, 0.0), H + 2 * M - h)
        if ox in (0.0, W + 2 * M - w):
            vx = -vx
        if oy in (0.0, H + 2 * M - h):
            vy = -vy
        vx = 0.9 * vx + crng.normal(0, amp * 0.3)
        vy = 0.9 * vy + crng.normal(0, amp * 0.3)
        v = canvas.resize((W, H), Image.BILINEAR, box=(ox, oy, ox + w, oy + h))
        views.append(np.asarray(v, dtype=np.float32))
    return views


def make_sequence(rng, items, bgs, W, H, F, scale_range, out_dir, crng=None, camera=0.0):
    photo = Image.open(bgs[rng.integers(len(bgs))]).convert("RGB")
    bg = fit(photo, W, H)
    views = camera_views(crng, photo, W, H, F, camera) if camera > 0 else None
    occ_src = fit(Image.open(bgs[rng.integers(len(bgs))]).convert("RGB"), W, H)
    # an item with a reasonably large mask
    while True:
        item = items[rng.integers(len(items))]
        if (item >= 128).sum() > 200:
            break
    tint = rng.uniform(0.6, 1.0, size=3).astype(np.float32)
    base = int(min(W, H) * rng.uniform(0.22, 0.32))
    grow = rng.uniform(1.0 / scale_range, scale_range)
    sides = np.round(base * grow ** (np.arange(F) / max(F - 1, 1))).astype(int)
    # smooth path: centre moves with a slowly varying velocity, bounced at the borders
    cx, cy = rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H
    s0 = max(sides[0], sides[-1])
    cx = min(max(cx, s0 / 2 + 1), W - s0 / 2 - 1)
    cy = min(max(cy, s0 / 2 + 1), H - s0 / 2 - 1)
    vx, vy = rng.normal(0, 2.0), rng.normal(0, 1.5)
    # occluder: a vertical strip crossing the item in the middle third
    occ_w = max(4, base // 3)
    t0, t1 = F // 3, 2 * F // 3
    boxes, occl = [], []
    os.makedirs(os.path.join(out_dir, "img"), exist_ok=True)
    for t in range(F):
        side = int(sides[t])
        rgb, alpha, (bx0, by0, bx1, by1) = render_item(item, side, tint)
        x0 = int(round(cx - side / 2)); y0 = int(round(cy - side / 2))
        frame = bg.copy() if views is None else views[t].copy()
        a = alpha[..., None]
        frame[y0:y0 + side, x0:x0 + side] = frame[y0:y0 + side, x0:x0 + side] * (1 - a) + rgb * a
        box = (x0 + bx0, y0 + by0, bx1 - bx0, by1 - by0)
        cover = 0.0
        if t0 <= t < t1:
            # the strip sweeps across the box's left half .. right half
            p = (t - t0) / max(t1 - t0 - 1, 1)
            sx = int(round(box[0] - occ_w + p * (box[2] + occ_w)))
            sx0, sx1 = max(sx, 0), min(sx + occ_w, W)
            if sx1 > sx0:
                frame[:, sx0:sx1] = occ_src[:, sx0:sx1]
                ov = max(0, min(sx1, box[0] + box[2]) - max(sx0, box[0]))
                cover = ov / box[2]
        Image.fromarray(np.clip(frame + 0.5, 0, 255).astype(np.uint8)).save(
            os.path.join(out_dir, "img", "%04d.jpg" % (t + 1)), quality=90)
        boxes.append(box)
        occl.append(cover)
        # advance: velocity drifts, bounce so the whole item stays in the frame
        vx = 0.9 * vx + rng.normal(0, 0.8)
        vy = 0.9 * vy + rng.normal(0, 0.6)
        nside = int(sides[min(t + 1, F - 1)])
        lo_x, hi_x = nside / 2 + 1, W - nside / 2 - 1
        lo_y, hi_y = nside / 2 + 1, H - nside / 2 - 1
        cx, cy = cx + vx, cy + vy
        if cx < lo_x or cx > hi_x:
            vx = -vx
            cx = min(max(cx, lo_x), hi_x)
        if cy < lo_y or cy > hi_y:
            vy = -vy
            cy = min(max(cy, lo_y), hi_y)
    with open(os.path.join(out_dir, "groundtruth_rect.txt"), "w") as f:
        for (x, y, w, h) in boxes:
            f.write("%d,%d,%d,%d\n" % (x + 1, y + 1, w, h))   # OTB: 1-based
    with open(os.path.join(out_dir, "occlusion.txt"), "w") as f:
        f.write("\n".join("%.3f" % c for c in occl) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seqs", type=int, default=8)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="320x240", help="WxH")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale-range", type=float, default=1.6, help="max growth / shrink factor over a sequence")
    ap.add_argument("--split", choices=("test", "train"), default="test", help="Fashion-MNIST items of this split")
    ap.add_argument("--camera", type=float, default=0.0, help="camera pan, px per frame (0: a still camera)")
    ap.add_argument("--more-backgrounds", action="store_true", help="add opencv-doc's photographs")
    a = ap.parse_args()
    W, H = (int(v) for v in a.size.lower().split("x"))
    if a.seqs < 1 or a.frames < 2 or W < 64 or H < 64:
        sys.exit("need --seqs >= 1, --frames >= 2 and a size of at least 64x64")
    rng = np.random.default_rng(a.seed)
    items = load_items(FMNIST % ("t10k" if a.split == "test" else "train"))
    bgs = background_paths(a.more_backgrounds)
    crng = np.random.default_rng(a.seed + 1000)   # the camera's own stream: the defaults stay as they were
    for s in range(a.seqs):
        make_sequence(rng, items, bgs, W, H, a.frames, a.scale_range, os.path.join(a.out, "fmnist-%02d" % (s + 1)),
                      crng, a.camera)
    with open(os.path.join(a.out, "README.txt"), "w") as f:
        f.write("made by: /usr/bin/python3 datasets/make_track_demo.py " + " ".join(sys.argv[1:]) + "\n")
    print("wrote %d sequences of %d frames (%dx%d) to %s" % (a.seqs, a.frames, W, H, a.out))


if __name__ == "__main__":
    main()
