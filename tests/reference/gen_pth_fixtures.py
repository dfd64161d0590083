#!/usr/bin/python3
"""Writes the .pth fixtures of the weights tests into tests/data/weights/ (run with Debian's
/usr/bin/python3 and python3-torch; the outputs are committed, CI never runs this).

  ckpt_tiny.pth     a VMamba training checkpoint at toy size (dims 2..16, depths 1,1,2,1,
                    ssm_ratio 2, 10 classes): 'model', 'model_ema', 'optimizer' (AdamW after
                    one step), 'lr_scheduler', 'max_accuracy' (a numpy scalar), 'scaler',
                    'epoch', 'config' (a yacs-like CfgNode), 'args' (argparse.Namespace)
  plain_fp16.pth    a plain state dict (model.half().state_dict()), protocol 2
  proto4.pth        the same model in f32 saved with pickle_protocol=4 (FRAME, MEMOIZE,
                    SHORT_BINUNICODE, STACK_GLOBAL)
  mmseg_tiny.pth    {'meta', 'state_dict' (backbone.* + decode_head.*), 'optimizer'}
  mixed.pth         every dtype, shared storages, offset and strided views, 0-d, empty,
                    an expanded (stride 0) view and an nn.Parameter
  evil_*.pth        zips whose data.pkl must be refused (see EVIL below)
  *.manifest        one line per tensor: name dtype shape crc32-of-contiguous-bytes; the C
                    test checks every tensor it loads against it (bit identity)
Usage: /usr/bin/python3 tests/reference/gen_pth_fixtures.py [OUTDIR]
       /usr/bin/python3 tests/reference/gen_pth_fixtures.py --full OUTDIR   (full-size tiny, see gen_full)
"""
import argparse
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vmamba_ref  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) == 2 else os.path.join(HERE, "..", "data", "weights")
TAGS = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
        torch.uint8: "U8", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def manifest(path, sd):
    with open(path, "w") as f:
        for name in sorted(sd):
            t = sd[name]
            shape = ",".join(str(int(s)) for s in t.shape)
            f.write("%s %s %s %08x\n" % (name, TAGS[t.dtype], shape or "-", zlib.crc32(raw_bytes(t))))


# ---- a yacs-like config node (pickled exactly as yacs.config.CfgNode would be)
yacs = types.ModuleType("yacs")
yacs_config = types.ModuleType("yacs.config")
yacs.config = yacs_config
sys.modules["yacs"] = yacs
sys.modules["yacs.config"] = yacs_config


class CfgNode(dict):
    def __init__(self, d=None):
        super().__init__(d or {})
        object.__setattr__(self, "__immutable__", True)
        object.__setattr__(self, "__new_allowed__", False)


CfgNode.__module__ = "yacs.config"
yacs_config.CfgNode = CfgNode


def tiny_model(seed, **kw):
    cfg = dict(dims=2, depths=(1, 1, 2, 1), ssm_ratio=2.0, d_state=1, num_classes=10)
    cfg.update(kw)
    return vmamba_ref.make_model(seed, **cfg)


def gen_ckpt():
    model, ema = tiny_model(1), tiny_model(2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(3)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)
    opt.step()
    config = CfgNode({"MODEL": CfgNode({"TYPE": "vssm", "NAME": "vssm1_tiny_0230s",
                                        "VSSM": CfgNode({"DEPTHS": [1, 1, 2, 1], "EMBED_DIM": 2,
                                                         "SSM_RATIO": 2.0, "FORWARD_TYPE": "v05_noz"})}),
                      "TRAIN": CfgNode({"EPOCHS": 300, "BASE_LR": 1e-3})})
    ck = {
        "model": model.state_dict(),
        "model_ema": ema.state_dict(),
        "optimizer": opt.state_dict(),
        "lr_scheduler": {"base_lrs": [1e-3], "last_epoch": 264, "t_initial": 300, "noise_range_t": None,
                         "warmup_prefix": False, "cycle_mul": 1.0},
        "max_accuracy": np.float64(82.6),
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                   "_growth_tracker": 17},
        "epoch": 264,
        "config": config,
        "args": argparse.Namespace(cfg="vssm1/vmambav2v_tiny_224.yaml", batch_size=128, amp=True),
    }
    torch.save(ck, os.path.join(OUT, "ckpt_tiny.pth"))
    manifest(os.path.join(OUT, "ckpt_tiny.model.manifest"), ck["model"])
    manifest(os.path.join(OUT, "ckpt_tiny.model_ema.manifest"), ck["model_ema"])


def gen_plain():
    sd = tiny_model(4).half().state_dict()
    torch.save(sd, os.path.join(OUT, "plain_fp16.pth"))
    manifest(os.path.join(OUT, "plain_fp16.manifest"), sd)
    sd = tiny_model(5, depths=(1, 1, 1, 1)).state_dict()
    torch.save(sd, os.path.join(OUT, "proto4.pth"), pickle_protocol=4)
    manifest(os.path.join(OUT, "proto4.manifest"), sd)


def gen_mmseg():
    bb = tiny_model(6, depths=(1, 1, 1, 1)).state_dict()
    g = torch.Generator().manual_seed(7)
    sd = collections.OrderedDict()
    for k, v in bb.items():
        if not k.startswith("classifier."):
            sd["backbone." + k] = v
    for i, d in enumerate([2, 4, 8, 16]):
        sd["backbone.outnorm%d.weight" % i] = torch.randn(d, generator=g)
        sd["backbone.outnorm%d.bias" % i] = torch.randn(d, generator=g)
    sd["decode_head.conv_seg.weight"] = torch.randn(3, 8, 1, 1, generator=g)
    sd["decode_head.conv_seg.bias"] = torch.randn(3, generator=g)
    sd["decode_head.bottleneck.bn.num_batches_tracked"] = torch.tensor(160000)
    ck = {"meta": {"epoch": 160, "iter": 160000, "mmseg_version": "0.30.0",
                   "CLASSES": ("wall", "building", "sky"), "PALETTE": [[120, 120, 120], [180, 120, 120], [6, 230, 230]]},
          "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 6e-5, "params": [0, 1]}]}}
    torch.save(ck, os.path.join(OUT, "mmseg_tiny.pth"))
    manifest(os.path.join(OUT, "mmseg_tiny.manifest"), sd)


def gen_mixed():
    g = torch.Generator().manual_seed(8)
    base = torch.randn(4, 6, generator=g)
    sd = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(2, 5, generator=g).half(),
        "bf16": torch.randn(4, 3, generator=g).bfloat16(),
        "f64": torch.randn(3, generator=g).double(),
        "i64": torch.arange(5) - 2,
        "i32": torch.arange(4, dtype=torch.int32) * -7,
        "i16": torch.arange(3, dtype=torch.int16),
        "i8": torch.tensor([-1, 2, -3], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "base": base,
        "base_alias": base.view(24),            # the same storage again
        "transposed": base.t(),                 # non-contiguous, shares base's storage
        "slice_offset": base[1:3],              # contiguous view at storage offset 6
        "strided": base[:, ::2],                # stride (6, 2)
        "half_slice": torch.randn(6, 4, generator=g).half()[2:, 1:3],  # fp16 strided at an offset
        "expand": torch.randn(3, 1, generator=g).expand(3, 4),         # stride 0
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.randn(2, 2, generator=g)),
    }
    torch.save(sd, os.path.join(OUT, "mixed.pth"))
    manifest(os.path.join(OUT, "mixed.manifest"), sd)


# ---- malicious and broken pickles: each is a torch.save-shaped zip with a crafted data.pkl
def write_zip(name, pkl, storages=None):
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
        for k, v in (storages or {}).items():
            z.writestr("archive/data/%s" % k, v)


class FakeStorage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def pickle_with_storages(obj):
    buf = io.BytesIO()
    StoragePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def gen_evil():
    P = b"\x80\x02"
    evil = {
        # the classic: os.system("echo pwned") via REDUCE
        "evil_os_system.pth": P + b"cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.",
        "evil_eval.pth": P + b"cbuiltins\neval\nX\x04\x00\x00\x001+1;\x85R.",
        # protocol 4 STACK_GLOBAL of subprocess.Popen
        "evil_stack_global.pth": b"\x80\x04\x8c\x0asubprocess\x94\x8c\x05Popen\x94\x93\x94)R.",
        # BUILD on an allowed global (would call __setstate__ / set attributes on a class)
        "evil_build.pth": P + b"ccollections\nOrderedDict\n}b.",
        # INST / OBJ / EXT1
        "evil_inst.pth": P + b"(X\x02\x00\x00\x00lsios\nsystem\n.",
        "evil_obj.pth": P + b"(ccollections\nOrderedDict\no.",
        "evil_ext1.pth": P + b"\x82\x01.",
        # REDUCE on an allowed but non-callable global (a storage class)
        "evil_reduce_storage.pth": P + b"ctorch\nFloatStorage\n)R.",
        # memo index never stored
        "bad_memo.pth": P + b"}q\x00h\xc8.",
        # 20000 nested lists: must not recurse or crash (the C test builds a deeper one)
        "deep_nest.pth": P + b"(" * 20000 + b"l" * 20000 + b".",
        # {'model': {'w': L}} where L is a list appended to itself
        "recursive.pth": P + b"}q\x00X\x05\x00\x00\x00modelq\x01}q\x02X\x01\x00\x00\x00wq\x03]q\x04h\x04ass.",
        # a pickle with no STOP
        "no_stop.pth": P + b"}q\x00",
    }
    for name, pkl in evil.items():
        write_zip(name, pkl)
    # a tensor claiming 100 floats from a storage of 6
    st = FakeStorage("0", 6)
    pkl = pickle_with_storages({"w": FakeTensor(st, 0, (100,), (1,))})
    write_zip("short_storage.pth", pkl, {"0": struct.pack("<6f", *range(6))})
    # a persistent id that claims 6 floats from an 8-byte entry
    pkl = pickle_with_storages({"w": FakeTensor(st, 0, (6,), (1,))})
    write_zip("short_entry.pth", pkl, {"0": struct.pack("<2f", 1, 2)})
    # a persistent id naming a storage the archive lacks
    pkl = pickle_with_storages({"w": FakeTensor(FakeStorage("9", 6), 0, (6,), (1,))})
    write_zip("missing_storage.pth", pkl, {"0": struct.pack("<6f", *range(6))})
    # a compressed data.pkl (torch.save never compresses)
    with zipfile.ZipFile(os.path.join(OUT, "compressed.pth"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", P + b"}.")


def gen_full(outdir):
    """--full OUTDIR: a full-size vmamba-tiny training checkpoint (model + model_ema +
    epoch/config), for tests/test_pth_full.c; not committed."""
    os.makedirs(outdir, exist_ok=True)
    model = vmamba_ref.make_model(11, dims=96, depths=(2, 2, 8, 2), ssm_ratio=1.0, d_state=1, num_classes=1000)
    sd = model.state_dict()
    ema = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    torch.save({"model": sd, "model_ema": ema, "epoch": 264, "max_accuracy": 82.6,
                "config": CfgNode({"MODEL": CfgNode({"NAME": "vssm1_tiny_0230s"})})},
               os.path.join(outdir, "vssm1_tiny_full.pth"))
    manifest(os.path.join(outdir, "vssm1_tiny_full.manifest"), sd)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--full":
        gen_full(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    gen_ckpt()
    gen_plain()
    gen_mmseg()
    gen_mixed()
    gen_evil()


if __name__ == "__main__":
    main()
