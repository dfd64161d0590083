#!/usr/bin/python3
"""Makes a small re-identification demo set in Market-1501 layout (not run in CI).

Identities are real Fashion-MNIST items (Debian's dataset-fashion-mnist, test split): one
identity = one particular 28x28 garment image. With --train-ids N, bounding_box_train gets N
more identities drawn from the TRAIN split (60k other garment images, so disjoint from the
test identities by construction), rendered the same way by the same cameras, for training a
re-ID model (weights/train_reid_demo.py). Cameras are real photographs
(python3-skimage's bundled skimage.data images), each with its own item scale range and
colour cast, so the same garment looks different from camera to camera:

    cam 1 astronaut   cam 2 coffee   cam 3 chelsea   cam 4 rocket
    cam 5 camera (grey)   cam 6 immunohistochemistry

Every image is 64x64: a random crop of the camera's photo, the garment composited on it
(its grey level as the alpha, tinted by the camera), slightly jittered in place and size,
then the camera's gain/offset. Each identity is seen by 3 of the 6 cameras, 3 images each;
one image of one camera is the query, the other 8 go to the gallery (the same-camera ones
are removed again by the Market protocol at evaluation). The gallery also gets pid 0000
distractors (garments that are no identity) and pid -1 junk images (background only),
as Market-1501 has.

    /usr/bin/python3 datasets/make_reid_demo.py OUT_DIR [--ids 100] [--seed 0] [--bg-strength 1.0]
        [--train-ids 0] [--train-per-cam 3]
    vssm reid extract --weights weights/reid_demo/vmamba_reid_demo.safetensors \
        --data OUT_DIR --format market --out demo_feats.safetensors
    vssm eval reid --features demo_feats.safetensors

(weights/reid_demo is a re-ID model trained on --train-ids 3000 by weights/train_reid_demo.py;
the Fashion-MNIST classifier as a backbone ranks at chance here, see weights/README.md.)

Writes OUT_DIR/query, OUT_DIR/bounding_box_test, OUT_DIR/bounding_box_train (empty unless
--train-ids), and names 0002_c1s1_000451_03.jpg: pid, camera, sequence 1, frame, index.
Deterministic per seed. The query/test images do not depend on --train-ids: the training
split is drawn afterwards from its own random stream (seed, 1). Training pids follow the
test ones (--ids 100: 0101, 0102, ...), so no pid number means two garments; each training
identity is seen by 3 of the 6 cameras, --train-per-cam images each.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image
import skimage.data as skd

FMNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
FMNIST_TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
SIZE = 64
CAMERAS = [  # (photo, item side range in px, RGB tint of the garment, gain, offset)
    ("astronaut", (30, 40), (1.00, 1.00, 1.00), (1.00, 1.00, 1.00), (0, 0, 0)),
    ("coffee", (36, 48), (1.00, 0.85, 0.70), (1.10, 1.00, 0.90), (10, 0, -10)),
    ("chelsea", (26, 36), (0.80, 0.90, 1.00), (0.90, 0.95, 1.10), (-5, 0, 15)),
    ("rocket", (40, 52), (1.00, 1.00, 0.80), (1.20, 1.15, 1.00), (0, 0, 0)),
    ("camera", (32, 44), (0.90, 0.90, 0.90), (0.85, 0.85, 0.85), (20, 20, 20)),
    ("immunohistochemistry", (28, 40), (0.75, 1.00, 0.85), (1.00, 0.90, 1.05), (0, 10, 0)),
]


def load_fmnist(path=FMNIST):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 28, 28)


def photo(name):
    im = getattr(skd, name)()
    if im.ndim == 2:
        im = np.stack([im] * 3, -1)
    return im[..., :3].astype(np.float32)


def render(item, cam, rng, photos, bg_strength=1.0):
    name, (lo, hi), tint, gain, offset = CAMERAS[cam]
    bg = photos[name]
    crop = rng.integers(96, 200)            # a 96..200 px window of the photo, resized to 64
    y = rng.integers(0, bg.shape[0] - crop)
    x = rng.integers(0, bg.shape[1] - crop)
    canvas = Image.fromarray(bg[y:y + crop, x:x + crop].astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR)
    canvas = np.asarray(canvas, np.float32) * bg_strength
    side = int(rng.integers(lo, hi + 1))
    it = np.asarray(Image.fromarray(item).resize((side, side), Image.BICUBIC), np.float32) / 255.0
    oy = (SIZE - side) // 2 + int(rng.integers(-4, 5))
    ox = (SIZE - side) // 2 + int(rng.integers(-4, 5))
    oy, ox = min(max(oy, 0), SIZE - side), min(max(ox, 0), SIZE - side)
    alpha = np.clip(it * 1.6, 0, 1)[..., None]
    fg = it[..., None] * 255.0 * np.asarray(tint, np.float32)
    region = canvas[oy:oy + side, ox:ox + side]
    canvas[oy:oy + side, ox:ox + side] = region * (1 - alpha) + fg * alpha
    out = canvas * np.asarray(gain, np.float32) + np.asarray(offset, np.float32)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--ids", type=int, default=100)
    ap.add_argument("--per-cam", type=int, default=3)
    ap.add_argument("--distractors", type=int, default=60)
    ap.add_argument("--junk", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bg-strength", type=float, default=1.0,
                    help="scale of the background photo (0: black, as Fashion-MNIST itself; 1: full photo)")
    ap.add_argument("--train-ids", type=int, default=0,
                    help="identities from the Fashion-MNIST TRAIN split written to bounding_box_train")
    ap.add_argument("--train-per-cam", type=int, default=3, help="training images per identity and camera")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    items = load_fmnist()
    photos = {c[0]: photo(c[0]) for c in CAMERAS}
    pick = rng.permutation(len(items))
    ids, distract = pick[:a.ids], pick[a.ids:a.ids + a.distractors]
    dirs = {k: os.path.join(a.out, k) for k in ("query", "bounding_box_test", "bounding_box_train")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    frame = 0
    nq = ng = 0
    for p, idx in enumerate(ids, start=1):
        cams = rng.choice(len(CAMERAS), 3, replace=False)
        qcam = cams[0]
        for c in cams:
            for k in range(a.per_cam):
                frame += 1
                im = render(items[idx], c, rng, photos, a.bg_strength)
                is_query = c == qcam and k == 0
                name = "%04d_c%ds1_%06d_%02d.jpg" % (p, c + 1, frame, k)
                im.save(os.path.join(dirs["query" if is_query else "bounding_box_test"], name), quality=95)
                nq += is_query
                ng += not is_query
    for idx in distract:
        frame += 1
        c = int(rng.integers(len(CAMERAS)))
        render(items[idx], c, rng, photos, a.bg_strength).save(
            os.path.join(dirs["bounding_box_test"], "0000_c%ds1_%06d_00.jpg" % (c + 1, frame)), quality=95)
        ng += 1
    blank = np.zeros((28, 28), np.uint8)
    for j in range(a.junk):
        frame += 1
        c = int(rng.integers(len(CAMERAS)))
        render(blank, c, rng, photos, a.bg_strength).save(
            os.path.join(dirs["bounding_box_test"], "-1_c%ds1_%06d_00.jpg" % (c + 1, frame)), quality=95)
    print("%s: %d identities, %d query + %d gallery images (%d distractors) + %d junk" % (
        a.out, len(ids), nq, ng, len(distract), a.junk))
    if a.train_ids > 0:
        nt = write_train(dirs["bounding_box_train"], a, photos)
        print("%s: %d training identities (Fashion-MNIST train split), %d images" % (a.out, a.train_ids, nt))


def write_train(out, a, photos):
    """bounding_box_train: identities from the TRAIN images, pids a.ids + 1 ..., own stream."""
    rng = np.random.default_rng([a.seed, 1])
    items = load_fmnist(FMNIST_TRAIN)
    if a.train_ids > len(items):
        raise SystemExit("--train-ids %d: the train split has %d images" % (a.train_ids, len(items)))
    frame = n = 0
    for p, idx in enumerate(rng.permutation(len(items))[:a.train_ids], start=a.ids + 1):
        for c in rng.choice(len(CAMERAS), 3, replace=False):
            for k in range(a.train_per_cam):
                frame += 1
                render(items[idx], c, rng, photos, a.bg_strength).save(
                    os.path.join(out, "%04d_c%ds1_%06d_%02d.jpg" % (p, c + 1, frame, k)), quality=95)
                n += 1
    return n


if __name__ == "__main__":
    main()
