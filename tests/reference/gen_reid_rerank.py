#!/usr/bin/python3
"""Reference vectors for vssm's re-ID metrics (tests/test_reid_rerank.c).

A faithful numpy port of torchreid utils/rerank.py re_ranking (itself from
zhunzhong07/person-re-ranking, k1 20, k2 6, lambda 0.3) and of metrics/rank.py
eval_market1501 with fast-reid's mINP, run on random features. The distance matrices are
made in float32 the way torchreid's metrics/distance.py makes them and saved as the
inputs, so the C code re-ranks exactly the same numbers.

    /usr/bin/python3 tests/reference/gen_reid_rerank.py   # writes tests/data/reid/rerank_*.safetensors

Needs numpy only.
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reid")


# ---- torchreid utils/rerank.py, line for line ----
def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    original_dist = np.concatenate(
        [np.concatenate([q_q_dist, q_g_dist], axis=1),
         np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0)
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1. * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float32)
    initial_rank = np.argsort(original_dist).astype(np.int32)

    query_num = q_g_dist.shape[0]
    gallery_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    all_num = gallery_num

    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            candidate_forward_k_neigh_index = initial_rank[candidate, :int(np.around(k1 / 2.)) + 1]
            candidate_backward_k_neigh_index = initial_rank[candidate_forward_k_neigh_index,
                                                            :int(np.around(k1 / 2.)) + 1]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if len(np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index)) > \
                    2. / 3 * len(candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(k_reciprocal_expansion_index,
                                                         candidate_k_reciprocal_index)
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = 1. * weight / np.sum(weight)
    original_dist = original_dist[:query_num, ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    invIndex = []
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float32)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(
                V[i, indNonZero[j]], V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2. - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    final_dist = final_dist[:query_num, query_num:]
    return final_dist


# ---- torchreid metrics/rank.py eval_market1501 + fast-reid mINP ----
def eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    indices = np.argsort(distmat, axis=1, kind="stable")   # vssm's documented tie rule
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP, all_INP = [], [], []
    for q_idx in range(num_q):
        order = indices[q_idx]
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        raw_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        pos = np.where(raw_cmc == 1)[0]
        all_INP.append(cmc[pos.max()] / (pos.max() + 1.0))
        cmc[cmc > 1] = 1
        c = np.ones(max_rank)          # a kept list shorter than max_rank: found (vssm's rule)
        c[:min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(c)
        num_rel = raw_cmc.sum()
        tmp = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0) * raw_cmc
        all_AP.append(tmp.sum() / num_rel)
    cmc = np.asarray(all_cmc).sum(0) / len(all_cmc)
    return cmc, float(np.mean(all_AP)), float(np.mean(all_INP)), len(all_cmc)


# ---- torchreid metrics/distance.py in float32 ----
def euclidean_squared(a, b):
    m1 = np.sum(a * a, axis=1, keepdims=True)
    m2 = np.sum(b * b, axis=1, keepdims=True).T
    return (m1 + m2 - 2.0 * (a @ b.T)).astype(np.float32)


def cosine(a, b):
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (1.0 - an @ bn.T).astype(np.float32)


def save_st(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        tag = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": tag, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_case(name, seed, nq, ng, d, n_ids, n_cams, metric, noise):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_ids, d)).astype(np.float32)
    q_pid = rng.integers(0, n_ids, nq)
    g_pid = np.concatenate([q_pid, rng.integers(0, n_ids, ng - nq)])[:ng]
    rng.shuffle(g_pid)
    qf = (centers[q_pid] + noise * rng.standard_normal((nq, d))).astype(np.float32)
    gf = (centers[g_pid] + noise * rng.standard_normal((ng, d))).astype(np.float32)
    q_cam = rng.integers(0, n_cams, nq)
    g_cam = rng.integers(0, n_cams, ng)
    dist = euclidean_squared if metric == "euclidean" else cosine
    qg, qq, gg = dist(qf, gf), dist(qf, qf), dist(gf, gf)
    # no ties anywhere that argsort would see (numpy's introsort order is undefined on ties)
    full = np.concatenate([np.concatenate([qq, qg], 1), np.concatenate([qg.T, gg], 1)], 0)
    for row in np.power(full, 2).astype(np.float32).T:
        if len(np.unique(row)) != len(row):
            return False
    rr = re_ranking(qg, qq, gg, k1=20, k2=6, lambda_value=0.3)
    # an odd k1: np.around(5 / 2) = 2 (half to even), so the candidates' lists hold 3
    rr5 = re_ranking(qg, qq, gg, k1=5, k2=3, lambda_value=0.5)
    q_pid, g_pid, q_cam, g_cam = (x.astype(np.int64) for x in (q_pid, g_pid, q_cam, g_cam))
    cmc0, map0, minp0, nv0 = eval_market1501(qg, q_pid, g_pid, q_cam, g_cam)
    cmc1, map1, minp1, nv1 = eval_market1501(rr, q_pid, g_pid, q_cam, g_cam)
    tensors = {"query": qf, "gallery": gf, "query_pid": q_pid, "gallery_pid": g_pid,
               "query_camid": q_cam, "gallery_camid": g_cam,
               "dist_qg": qg, "dist_qq": qq, "dist_gg": gg, "rerank_qg": rr.astype(np.float32),
               "rerank_k5_3_l05_qg": rr5.astype(np.float32)}
    meta = {"metric": metric, "numpy": np.__version__, "seed": str(seed),
            "plain": json.dumps({"rank1": float(cmc0[0]), "rank5": float(cmc0[4]), "mAP": map0, "mINP": minp0, "valid": nv0}),
            "rerank": json.dumps({"rank1": float(cmc1[0]), "rank5": float(cmc1[4]), "mAP": map1, "mINP": minp1, "valid": nv1})}
    path = os.path.join(OUT, "rerank_%s.safetensors" % name)
    save_st(path, tensors, meta)
    print("%s: q %d g %d d %d %s  plain R1 %.4f mAP %.4f | rerank R1 %.4f mAP %.4f (%d bytes)"
          % (path, nq, ng, d, metric, cmc0[0], map0, cmc1[0], map1, os.path.getsize(path)))
    return True


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for args in [("small", 10, 30, 8, 6, 3, "euclidean", 0.9), ("mid", 30, 150, 32, 20, 4, "cosine", 1.6)]:
        seed = 1
        while not make_case(args[0], seed, *args[1:]):   # the first seed without a tie
            seed += 1
