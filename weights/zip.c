/* weights/zip.c - read-only zip directory over a memory-mapped file (torch.save's container).
 *
 * torch.save writes uncompressed ("stored") entries whose data it aligns to 64 bytes, and
 * switches to ZIP64 records when sizes or offsets pass 4 GiB. Only that much is accepted:
 * compressed, encrypted or multi-disk archives are refused. Every length read from the
 * file is checked against the file's size before it is used.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "weights/pth_internal.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- CRC-32 (IEEE, reflected), slicing by 8: about 2 GB/s, enough to check every
 * storage a model uses. The table is built per call (2K entries) to keep no global state. */
uint32_t vssm_crc32(uint32_t crc, const void *data, size_t n) {
    uint32_t t[8][256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        t[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
        for (int i = 0; i < 256; i++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    const uint8_t *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ rd32(p), b = rd32(p + 4);
        crc = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^ t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^ t[3][b & 0xff] ^
              t[2][(b >> 8) & 0xff] ^ t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- end of central directory (plain and ZIP64) */
typedef struct cd_info {
    uint64_t off, size, count;
} cd_info;

static vssm_status find_cd(const uint8_t *b, uint64_t size, cd_info *cd, vssm_err *err) {
    if (size < 22)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "not a zip archive (%llu bytes, too short)",
                            (unsigned long long)size);
    uint64_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, pos = size - 22;
    for (;; pos--) {
        if (rd32(b + pos) == 0x06054b50u && pos + 22 + rd16(b + pos + 20) <= size) break;
        if (pos == lo)
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "zip end-of-directory record not found (truncated or not a zip file)");
    }
    const uint8_t *e = b + pos;
    if (rd16(e + 4) != 0 || (rd16(e + 6) != 0 && rd16(e + 6) != 0xffff))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "multi-disk zip archives are not supported");
    cd->count = rd16(e + 10);
    cd->size = rd32(e + 12);
    cd->off = rd32(e + 16);
    if (pos >= 20 && rd32(b + pos - 20) == 0x07064b50u) { /* ZIP64 locator */
        uint64_t z = rd64(b + pos - 20 + 8);
        if (z > pos - 20 || pos - 20 - z < 56 || rd32(b + z) != 0x06064b50u)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "zip64 end-of-directory record at %llu is invalid",
                                (unsigned long long)z);
        cd->count = rd64(b + z + 32);
        cd->size = rd64(b + z + 40);
        cd->off = rd64(b + z + 48);
    }
    if (cd->off > size || cd->size > size - cd->off)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "zip central directory (offset %llu, %llu bytes) lies outside the %llu-byte file",
                            (unsigned long long)cd->off, (unsigned long long)cd->size, (unsigned long long)size);
    if (cd->count > cd->size / 46 || cd->count > INT_MAX) /* 46: the smallest directory record */
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip directory claims %llu entries in %llu bytes",
                            (unsigned long long)cd->count, (unsigned long long)cd->size);
    return VSSM_OK;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const vssm_zip_entry *)a)->name, ((const vssm_zip_entry *)b)->name);
}

/* One central-directory record at b+p (inside [cd_off, cd_end)); fills *ze, returns the
 * record's length in *len. */
static vssm_status parse_entry(const vssm_zip *z, uint64_t p, uint64_t cd_end, vssm_zip_entry *ze, uint64_t *len,
                               vssm_err *err) {
    const uint8_t *b = z->base;
    if (cd_end - p < 46 || rd32(b + p) != 0x02014b50u)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "bad zip directory record at offset %llu", (unsigned long long)p);
    const uint8_t *h = b + p;
    uint16_t flags = rd16(h + 8), method = rd16(h + 10);
    uint64_t csize = rd32(h + 20), usize = rd32(h + 24), loff = rd32(h + 42);
    uint32_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
    if (cd_end - p - 46 < (uint64_t)nlen + xlen + clen)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip directory record at %llu runs past the directory",
                            (unsigned long long)p);
    *len = 46 + (uint64_t)nlen + xlen + clen;
    const uint8_t *name = h + 46, *x = name + nlen;
    if (nlen == 0 || memchr(name, 0, nlen))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry at %llu has an empty or invalid name",
                            (unsigned long long)p);
    /* ZIP64 extended information: the 64-bit fields replace the saturated 32-bit ones */
    for (uint32_t q = 0; q + 4 <= xlen;) {
        uint16_t id = rd16(x + q), sz = rd16(x + q + 2);
        if (q + 4 + sz > xlen) break;
        if (id == 0x0001) {
            const uint8_t *f = x + q + 4, *fe = f + sz;
            if (usize == 0xffffffffu) {
                if (fe - f < 8) goto bad64;
                usize = rd64(f);
                f += 8;
            }
            if (csize == 0xffffffffu) {
                if (fe - f < 8) goto bad64;
                csize = rd64(f);
                f += 8;
            }
            if (loff == 0xffffffffu) {
                if (fe - f < 8) goto bad64;
                loff = rd64(f);
                f += 8;
            }
        }
        q += 4 + sz;
    }
    if (flags & 1) return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%.*s' is encrypted", (int)nlen, name);
    if (method != 0 || csize != usize)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "zip entry '%.*s' is compressed (method %u); torch.save stores entries uncompressed",
                            (int)nlen, name, method);
    /* local header: its name must match, its data must lie inside the file */
    if (loff > z->size || z->size - loff < 30 || rd32(b + loff) != 0x04034b50u)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%.*s': local header offset %llu is invalid", (int)nlen,
                            name, (unsigned long long)loff);
    uint64_t lnlen = rd16(b + loff + 26), lxlen = rd16(b + loff + 28);
    uint64_t doff = loff + 30 + lnlen + lxlen;
    if (lnlen != nlen || doff > z->size || memcmp(b + loff + 30, name, nlen) != 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%.*s': local header does not match the directory",
                            (int)nlen, name);
    if (usize > z->size - doff)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "zip entry '%.*s': %llu bytes at offset %llu run past the end of the file (truncated?)",
                            (int)nlen, name, (unsigned long long)usize, (unsigned long long)doff);
    ze->name = malloc(nlen + 1);
    if (!ze->name) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    memcpy(ze->name, name, nlen);
    ze->name[nlen] = 0;
    ze->data_off = doff;
    ze->size = usize;
    ze->crc = rd32(h + 16);
    ze->crc_checked = 0;
    return VSSM_OK;
bad64:
    return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%.*s' has a short zip64 extra field", (int)nlen, name);
}

vssm_status vssm_zip_open(vssm_zip *z, const uint8_t *base, uint64_t size, vssm_err *err) {
    memset(z, 0, sizeof *z);
    z->base = base;
    z->size = size;
    cd_info cd = {0};
    vssm_status s = find_cd(base, size, &cd, err);
    if (s) return s;
    z->e = calloc(cd.count ? cd.count : 1, sizeof *z->e);
    if (!z->e)
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory (%llu zip entries)", (unsigned long long)cd.count);
    uint64_t p = cd.off, end = cd.off + cd.size;
    for (uint64_t i = 0; i < cd.count; i++) {
        uint64_t len = 0;
        s = parse_entry(z, p, end, &z->e[z->n], &len, err);
        if (s) {
            vssm_zip_close(z);
            return s;
        }
        z->n++;
        p += len;
    }
    qsort(z->e, z->n, sizeof *z->e, entry_cmp);
    for (int i = 1; i < z->n; i++)
        if (!strcmp(z->e[i - 1].name, z->e[i].name)) {
            vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%s' appears twice", z->e[i].name);
            vssm_zip_close(z);
            return VSSM_ERR_FORMAT;
        }
    return VSSM_OK;
}

void vssm_zip_close(vssm_zip *z) {
    if (!z) return;
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof *z);
}

int vssm_zip_find(const vssm_zip *z, const char *name) {
    int lo = 0, hi = z->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(z->e[mid].name, name);
        if (!c) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

vssm_status vssm_zip_verify(vssm_zip *z, int i, vssm_err *err) {
    vssm_zip_entry *e = &z->e[i];
    if (e->crc_checked) return VSSM_OK;
    uint32_t c = vssm_crc32(0, z->base + e->data_off, (size_t)e->size);
    if (c != e->crc)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "zip entry '%s': CRC-32 mismatch (stored %08x, data %08x)", e->name,
                            e->crc, c);
    e->crc_checked = 1;
    return VSSM_OK;
}
