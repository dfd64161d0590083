#!/usr/bin/python3
"""Reference vectors for the shipped Fashion-MNIST VMamba (weights/fashion_mnist/).

    /usr/bin/python3 tests/reference/gen_fashion_vectors.py           # write + full test-set accuracy
    /usr/bin/python3 tests/reference/gen_fashion_vectors.py --no-acc  # skip the 10k accuracy run

Writes tests/data/fashion/ref.safetensors:
    input       F32 (10, 3, H, W)  the preprocessed tensors exactly as torchvision produces
                                   them from the PNG files: PIL open -> convert('RGB') ->
                                   Resize(resize, bicubic) -> CenterCrop(crop) -> ToTensor ->
                                   Normalize(mean, std), with the values from the model's
                                   __metadata__
    logits      F32 (10, 10)       the shipped F32 weights run in float64 (vmamba_ref.VSSM with
                                   its sequential scan) on `input`, rounded to float32
    logits_f64  F64 (10, 10)       the same, unrounded
    __metadata__: files (JSON array of the PNG paths, relative to the repo root, in order),
                  targets (JSON array of the label indices), predictions (argmax of logits),
                  model (path of the weights), test_top1_f64 (the float64 model's top-1 on the
                  full 10k test set, when computed), ref_dtype=float64.

The 10 files are weights/fashion_mnist/sample/<class folder>/<index>.png with the smallest
test index in each class folder, classes in label order.
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
import torchvision.transforms as Tv
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vmamba_ref  # noqa: E402

MODEL = "weights/fashion_mnist/vmamba_fashion.safetensors"
SAMPLE = "weights/fashion_mnist/sample"
OUT = "tests/data/fashion/ref.safetensors"
DATA_DIR = "/usr/share/datasets/fashion-mnist"


def floats(s):
    return [float(v) for v in s.split(",")]


def load_model(path):
    tensors, meta = st_io.load(path)
    assert meta["format"] == "vssm" and meta["forward_type"] == "v05_noz", meta
    dt_rank = int(meta["dt_rank"])
    model = vmamba_ref.VSSM(
        dims=[int(v) for v in meta["dims"].split(",")],
        depths=[int(v) for v in meta["depths"].split(",")],
        ssm_ratio=float(meta["ssm_ratio"]), d_state=int(meta["d_state"]),
        dt_rank="auto" if dt_rank == 0 else dt_rank, mlp_ratio=float(meta["mlp_ratio"]),
        num_classes=int(meta["num_classes"]), in_chans=int(meta["in_chans"]))
    model.load_state_dict({k: v for k, v in tensors.items()}, strict=True)
    return model.double().eval(), meta


def make_transform(meta):
    interp = {"bicubic": Tv.InterpolationMode.BICUBIC,
              "bilinear": Tv.InterpolationMode.BILINEAR}[meta["interpolation"]]
    t = []
    if int(meta["resize"]) > 0:
        t.append(Tv.Resize(int(meta["resize"]), interpolation=interp))
    if int(meta["crop"]) > 0:
        t.append(Tv.CenterCrop(int(meta["crop"])))
    t += [Tv.ToTensor(), Tv.Normalize(floats(meta["mean"]), floats(meta["std"]))]
    return Tv.Compose(t)


def read_test():
    with gzip.open(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n = int(np.frombuffer(raw[4:8], ">u4")[0])
    imgs = np.frombuffer(raw[16:], np.uint8).reshape(n, 28, 28)
    with gzip.open(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read()[8:], np.uint8).astype(np.int64)
    return imgs, labels


@torch.no_grad()
def test_accuracy(model, transform, bs=500):
    """float64 top-1 over the 10k test images (PIL 'L' from the idx bytes, then the same
    transform as for the PNG files: a PNG of the idx bytes decodes to the same image)."""
    imgs, labels = read_test()
    correct = 0
    for i in range(0, len(imgs), bs):
        x = torch.stack([transform(Image.fromarray(a, mode="L").convert("RGB"))
                         for a in imgs[i:i + bs]])
        pred = model(x.double()).argmax(1).numpy()
        correct += int((pred == labels[i:i + bs]).sum())
        print("  %5d/%d  running top-1 %.2f%%" % (i + bs, len(imgs), 100.0 * correct / (i + bs)),
              flush=True)
    return 100.0 * correct / len(imgs), correct


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-acc", action="store_true", help="skip the full test-set accuracy")
    ap.add_argument("--model", default=MODEL, help="weights (default %(default)s)")
    ap.add_argument("--out", default=OUT, help="output (default %(default)s)")
    args = ap.parse_args()
    os.chdir(ROOT)
    torch.set_num_threads(2)

    model, meta = load_model(args.model)
    transform = make_transform(meta)
    folders = sorted(os.listdir(SAMPLE))
    assert len(folders) == int(meta["num_classes"]), folders
    files, targets, inputs = [], [], []
    test_imgs, test_labels = read_test()
    for c, folder in enumerate(folders):
        idx = min(int(f[:-4]) for f in os.listdir(os.path.join(SAMPLE, folder)) if f.endswith(".png"))
        path = "%s/%s/%d.png" % (SAMPLE, folder, idx)
        im = Image.open(path)
        assert im.mode == "L" and np.array_equal(np.asarray(im), test_imgs[idx]), path
        assert test_labels[idx] == c, (path, test_labels[idx])
        inputs.append(transform(im.convert("RGB")))
        files.append(path)
        targets.append(c)
    x = torch.stack(inputs).float()
    with torch.no_grad():
        logits64 = model(x.double())
    pred = logits64.argmax(1).tolist()
    print("files:", files)
    print("targets:    ", targets)
    print("predictions:", pred)

    out_meta = {"format": "vssm-test-vectors", "model": args.model, "files": json.dumps(files),
                "targets": json.dumps(targets), "predictions": json.dumps(pred),
                "ref_dtype": "float64"}
    if not args.no_acc:
        top1, correct = test_accuracy(model, transform)
        print("float64 model, full 10k test set: top-1 %.2f%% (%d/10000); shipped metadata top1 %s"
              % (top1, correct, meta["top1"]))
        out_meta["test_top1_f64"] = "%.2f" % top1
        out_meta["test_correct_f64"] = str(correct)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    st_io.save(args.out, {"input": x, "logits": logits64.float(), "logits_f64": logits64}, out_meta)
    t, m = st_io.load(args.out)
    assert torch.equal(t["input"], x) and torch.equal(t["logits_f64"], logits64)
    print("wrote %s (%d bytes)" % (args.out, os.path.getsize(args.out)))


if __name__ == "__main__":
    main()
