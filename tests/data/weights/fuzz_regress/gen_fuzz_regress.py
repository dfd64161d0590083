#!/usr/bin/env python3
"""Writes the reproducer files of tests/test_weights_fuzz_regress.c into this folder: small
hand-made .pth and .safetensors files, each a file from a stranger that once crashed, read
out of bounds, hit undefined behaviour, or made `vssm convert` write a model `vssm classify`
refuses (issue 16). Needs only Python 3 (no torch): the pickles are emitted opcode by opcode
the way torch.save writes them, inside a zip like torch.save's.

  view_before_storage.pth   offset 2^63 - 2^24, size (2^24 + 1,), stride (1,): offset +
                            (size-1)*stride overflows int64 and wrapped to a small number, so
                            the view passed the bounds check and pointed 64 MiB before its
                            storage (`vssm convert` copied that memory into its output)
  view_huge_offset.pth      offset 2^63 - 1, size (2,): the same overflow at the last element
  view_stride_overflow.pth  size (2^23 + 1,), stride (2^40,): (size-1)*stride = 2^63 wrapped
                            negative; the strided copy then read far outside the file (SIGSEGV)
  view_zero_dim_huge.pth    size (2^40, 2^40, 0): no element, but the product of the other
                            dims (2^80) overflowed the contiguity computation (UB)
  view_expand_huge.pth      one float expanded to 2^28 elements (stride 0): a 600-byte file
                            made the reader allocate and fill 1 GiB
  view_negative_stride.pth, view_negative_offset.pth, view_negative_size.pth
                            negative view fields (refused by the pickle machine)
  empty_stack_ops.pth       MARK + TUPLE / LIST / DICT with nothing on a never-used stack:
                            NULL + 0 pointer arithmetic (UB, seen by UBSan in test_pth)
  storage_numel_overflow.pth  a persistent id whose numel * 8 overflows uint64
  zip_cd_past_end.pth       central directory offset past the end of the file
  zip_name_past_cd.pth      a directory record whose name length runs past the directory
  zip_extra_past_cd.pth     ... whose extra-field length runs past the directory
  zip_local_past_end.pth    ... whose local header offset lies past the end of the file
  zip64_locator_bad.pth     a ZIP64 end-of-directory locator pointing past the file
  zip64_count_huge.pth      a ZIP64 end-of-directory record claiming 2^64-1 entries
  st_misaligned.safetensors a header whose length puts the F32 data at an odd address
  st_zero_dim_huge.safetensors  shape [0, 1099511627776, 1099511627776] with 0 bytes
  st_offsets_huge.safetensors   data_offsets near 2^53 (past the data area)
  st_shape_overflow.safetensors shape [2^40, 2^40]: numel * 4 overflows
  infer_zero_dim.safetensors  a VMamba-named tensor set whose block norms have 0 channels:
                            config inference made dims 0 and ssm_ratio inf (UB when cast)
  meta_ratio_huge.safetensors metadata config with ssm_ratio 1e30 (UB when cast to a size)
  bad_head_bias.pth         a VMamba state dict (the tiny model of ckpt_tiny.pth) whose
                            classifier.head.bias has 5 elements for a 10-class head
Usage: python3 tests/data/weights/fuzz_regress/gen_fuzz_regress.py [OUTDIR]
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
P2 = b"\x80\x02"


def long1(x):
    """A LONG1 opcode holding x as 8 signed bytes (what pickle writes for big ints)."""
    return b"\x8a\x08" + struct.pack("<q", x)


def ustr(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def tup(items):
    return b"(" + b"".join(items) + b"t"


def tensor(key, numel, offset, size, stride, storage=b"FloatStorage"):
    """_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())."""
    pid = tup([ustr("storage"), b"ctorch\n" + storage + b"\n", ustr(key), ustr("cpu"), long1(numel)]) + b"Q"
    args = tup([pid, long1(offset), tup([long1(v) for v in size]), tup([long1(v) for v in stride]), b"\x89",
                b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def state_dict(entries):
    """{name: tensor(...)} as one EMPTY_DICT + MARK ... SETITEMS."""
    body = b"".join(ustr(name) + t for name, t in entries)
    return P2 + b"}(" + body + b"u."


def zput(z, name, data):
    """A stored entry with a fixed timestamp, so the files come out byte-identical."""
    z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_STORED)


def write_zip(name, pkl, storages=None):
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        zput(z, "archive/data.pkl", pkl)
        zput(z, "archive/byteorder", "little")
        for k, v in (storages or {}).items():
            zput(z, "archive/data/%s" % k, v)


SIX = {"0": struct.pack("<6f", *range(6))}


def gen_views():
    one = lambda off, size, stride: state_dict([("w", tensor("0", 6, off, size, stride))])
    write_zip("view_before_storage.pth", one(2**63 - 2**24, (2**24 + 1,), (1,)), SIX)
    write_zip("view_huge_offset.pth", one(2**63 - 1, (2,), (1,)), SIX)
    write_zip("view_stride_overflow.pth", one(0, (2**23 + 1,), (2**40,)), SIX)
    write_zip("view_zero_dim_huge.pth", one(0, (2**40, 2**40, 0), (2**40, 1, 1)), SIX)
    write_zip("view_expand_huge.pth", one(0, (2**28,), (0,)), SIX)
    write_zip("view_negative_stride.pth", one(5, (6,), (-1,)), SIX)
    write_zip("view_negative_offset.pth", one(-4, (2,), (1,)), SIX)
    write_zip("view_negative_size.pth", one(0, (-2,), (1,)), SIX)
    # numel * 8 bytes (DoubleStorage) overflows uint64 and wrapped below the entry's size
    pkl = state_dict([("w", tensor("0", 2**61 + 1, 0, (1,), (1,), b"DoubleStorage"))])
    write_zip("storage_numel_overflow.pth", pkl, {"0": struct.pack("<3d", 1, 2, 3)})


def gen_pickles():
    # MARK TUPLE POP, MARK LIST POP, MARK DICT POP on a stack never pushed to, then {}
    write_zip("empty_stack_ops.pth", P2 + b"(t0(l0(d0}.")


# ---- zips broken by hand from a good one-tensor archive
def good_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        zput(z, "archive/data.pkl", state_dict([("w", tensor("0", 6, 0, (6,), (1,)))]))
        zput(z, "archive/data/0", SIX["0"])
    return bytearray(buf.getvalue())


def rd16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def rd32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def eocd_of(b):
    o = len(b) - 22
    assert rd32(b, o) == 0x06054B50
    return o


def save(name, b):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(b))


def gen_zips():
    b = good_zip()
    e = eocd_of(b)
    struct.pack_into("<I", b, e + 16, len(b) + 1000)
    save("zip_cd_past_end.pth", b)

    b = good_zip()
    e = eocd_of(b)
    cd, cd_size = rd32(b, e + 16), rd32(b, e + 12)
    struct.pack_into("<H", b, cd + 28, cd_size + 10)       # first record's name length
    save("zip_name_past_cd.pth", b)

    b = good_zip()
    cd = rd32(b, eocd_of(b) + 16)
    struct.pack_into("<H", b, cd + 30, 0xFFFF)             # first record's extra length
    save("zip_extra_past_cd.pth", b)

    b = good_zip()
    cd = rd32(b, eocd_of(b) + 16)
    struct.pack_into("<I", b, cd + 42, 0xFFFFFFF0)         # local header offset
    save("zip_local_past_end.pth", b)

    # a ZIP64 locator (20 bytes) before the EOCD pointing past the end of the file
    b = good_zip()
    e = eocd_of(b)
    loc = struct.pack("<IIQI", 0x07064B50, 0, 2**62, 1)
    b = b[:e] + loc + b[e:]
    save("zip64_locator_bad.pth", b)

    # a real ZIP64 end-of-directory record (56 bytes) + locator claiming 2^64-1 entries
    b = good_zip()
    e = eocd_of(b)
    cd, cd_size = rd32(b, e + 16), rd32(b, e + 12)
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 2**64 - 1, 2**64 - 1, cd_size, cd)
    loc = struct.pack("<IIQI", 0x07064B50, 0, e, 1)
    b = b[:e] + z64 + loc + b[e:]
    save("zip64_count_huge.pth", b)


# ---- safetensors
def st_file(name, header, data, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    save(name, struct.pack("<Q", len(h)) + h + data)


def gen_safetensors():
    # the header's length puts the data area at an odd offset of the (page-aligned) map
    h = b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}'
    while (8 + len(h)) % 4 != 3:
        h += b" "
    save("st_misaligned.safetensors", struct.pack("<Q", len(h)) + h + struct.pack("<3f", 1.5, -2.0, 3.25))
    st_file("st_zero_dim_huge.safetensors", {"z": {"dtype": "F32", "shape": [0, 2**40, 2**40], "data_offsets": [0, 0]}}, b"")
    st_file("st_offsets_huge.safetensors", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [2**53 - 4, 2**53]}},
            b"\0" * 4)
    st_file("st_shape_overflow.safetensors", {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 0]}}, b"")


def st_tensors(name, tensors, meta=None):
    """A safetensors file of zero-filled F32 tensors {name: shape}, padded like the crate's."""
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for k in sorted(tensors):
        n = 1
        for v in tensors[k]:
            n *= v
        header[k] = {"dtype": "F32", "shape": list(tensors[k]), "data_offsets": [len(data), len(data) + 4 * n]}
        data += b"\0" * (4 * n)
    st_file(name, header, data)


def gen_infer():
    d, di, r, n = 2, 4, 1, 1
    t = {"patch_embed.0.weight": (1, 3, 3, 3)}
    for i in range(4):
        b = "layers.%d.blocks.0." % i
        t[b + "norm.weight"] = (0,)
        t[b + "op.conv2d.weight"] = (di, 1, 3, 3)
        t[b + "op.dt_projs_weight"] = (4, di, r)
        t[b + "op.x_proj_weight"] = (4, r + 2 * n, di)
        t[b + "op.in_proj.weight"] = (di, d)
    st_tensors("infer_zero_dim.safetensors", t)
    meta = {"arch": "custom", "forward_type": "v05_noz", "dims": "2,4,8,16", "depths": "1,1,1,1", "ssm_ratio": "1e30",
            "d_state": "1", "dt_rank": "0", "mlp_ratio": "4.0", "num_classes": "0", "in_chans": "3"}
    st_tensors("meta_ratio_huge.safetensors", {"x": (1,)}, meta)


# ---- a VMamba checkpoint with a wrong head bias, from the tensors of ckpt_tiny.pth
class _Ref:
    def __init__(self, *a):
        self.a = a


def _rebuild(storage, offset, size, stride, *rest):
    return _Ref(storage, offset, tuple(size), tuple(stride))


class _Inert(dict):
    """Stands for every other class the checkpoint names (config, Namespace, numpy scalar)."""
    def __init__(self, *a, **k):
        pass

    def __setstate__(self, state):
        pass


class _Reader(pickle.Unpickler):
    """Reads our own fixture ckpt_tiny.pth without torch (no class of it is ever made)."""
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild
        if module == "torch" and name.endswith("Storage"):
            return name
        return _Inert

    def persistent_load(self, pid):
        return pid[1:]   # (type name, key, location, numel)


def gen_bad_head():
    src = os.path.join(HERE, "..", "ckpt_tiny.pth")
    with zipfile.ZipFile(src) as z:
        pkl_name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        prefix = pkl_name[: -len("data.pkl")]
        top = _Reader(io.BytesIO(z.read(pkl_name))).load()
        model = top["model"]
        entries, storages = [], {}
        for i, (name, ref) in enumerate(model.items()):
            (ty, key, _loc, numel), off, size, stride = ref.a
            assert ty == "FloatStorage", (name, ty)
            raw = z.read(prefix + "data/" + key)
            n = 1
            for s in size:
                n *= s
            # contiguous copy of the view (all of ckpt_tiny's model tensors are contiguous)
            assert all(stride[d] == (1 if d == len(size) - 1 else stride[d]) for d in range(len(size)))
            data = raw[4 * off: 4 * (off + n)]
            if name == "classifier.head.bias":
                size, stride, data, n = (5,), (1,), data[:20], 5
            k = str(i)
            storages[k] = data
            entries.append((name, tensor(k, n, 0, size, stride)))
    write_zip("bad_head_bias.pth", state_dict(entries), storages)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen_views()
    gen_pickles()
    gen_zips()
    gen_safetensors()
    gen_infer()
    gen_bad_head()


if __name__ == "__main__":
    main()
