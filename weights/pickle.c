/* weights/pickle.c - an allow-listed pickle machine: reads what torch.save writes, runs nothing.
 *
 * The machine is the usual pickle stack VM (stack, mark stack, memo) but its values are its
 * own tagged structs (pth_internal.h), and it never calls anything. GLOBAL resolves a name
 * against a fixed table; a name off the table is refused on the spot. The table holds:
 *   builders  collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter,
 *             _rebuild_parameter_with_state, torch._tensor._rebuild_from_type_v2 and the
 *             typed storage classes (torch.FloatStorage, ...): REDUCE on them is interpreted
 *             (a dict, a tensor reference, the tensor inside a parameter), not called.
 *   inert     classes a training checkpoint's side entries hold (argparse.Namespace,
 *             yacs.config.CfgNode, numpy scalars/dtypes/arrays, _codecs.encode for bytes,
 *             torch.device): REDUCE/NEWOBJ/BUILD/SETITEMS on them give or feed an opaque
 *             placeholder whose content is dropped. They can never become tensors.
 * Refused: INST, OBJ, EXT1/2/4, PERSID (text), any opcode not listed below, REDUCE or
 * NEWOBJ on anything but the table's entries, BUILD on anything but a dict or an opaque
 * placeholder. Sizes are bounded: strings by the bytes left, the memo by the pickle's length,
 * the number of objects by VSSM_PK_MAX_VALUES.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weights/pth_internal.h"

#define VSSM_PK_MAX_VALUES (1 << 22) /* ~ 4M objects: far above any real checkpoint */

struct vssm_pk_machine {
    vssm_pk_val **all; /* every value made, freed together */
    size_t n_all, cap_all;
    vssm_pk_val **stack;
    size_t sp, cap;
    size_t *marks;
    size_t n_marks, cap_marks;
    vssm_pk_val **memo; /* memo[i], NULL when unset; n_memo slots allocated */
    size_t n_memo;
    size_t memo_count; /* distinct slots set: MEMOIZE's next index */
    size_t limit_memo;
    size_t pos; /* offset of the current opcode, for messages */
    uint8_t op;
};

/* ---------------------------------------------------------------- values */
vssm_pk_val *vssm_pk_new(vssm_pk_machine *m, vssm_pk_kind kind) {
    if (m->n_all >= VSSM_PK_MAX_VALUES) return NULL;
    if (m->n_all == m->cap_all) {
        size_t nc = m->cap_all ? m->cap_all * 2 : 256;
        vssm_pk_val **a = realloc(m->all, nc * sizeof *a);
        if (!a) return NULL;
        m->all = a;
        m->cap_all = nc;
    }
    vssm_pk_val *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    m->all[m->n_all++] = v;
    return v;
}

void vssm_pk_free(vssm_pk_machine *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_all; i++) {
        free(m->all[i]->str);
        free(m->all[i]->items);
        free(m->all[i]->tensor);
        free(m->all[i]);
    }
    free(m->all);
    free(m->stack);
    free(m->marks);
    free(m->memo);
    free(m);
}

static int items_push(vssm_pk_val *c, vssm_pk_val *x) {
    if (c->n == c->cap) {
        int64_t nc = c->cap ? c->cap * 2 : 8;
        vssm_pk_val **a = realloc(c->items, (size_t)nc * sizeof *a);
        if (!a) return 0;
        c->items = a;
        c->cap = nc;
    }
    c->items[c->n++] = x;
    return 1;
}

const vssm_pk_val *vssm_pk_dict_get(const vssm_pk_val *d, const char *key) {
    if (!d || d->kind != VSSM_PK_DICT) return NULL;
    for (int64_t i = d->n / 2 - 1; i >= 0; i--) {
        const vssm_pk_val *k = d->items[2 * i];
        if (k->kind == VSSM_PK_STR && !strcmp(k->str, key)) return d->items[2 * i + 1];
    }
    return NULL;
}

const char *vssm_pk_kind_name(vssm_pk_kind k) {
    static const char *names[] = {"None", "bool", "int",    "float",   "str",    "bytes",        "tuple",
                                  "list", "dict", "global", "storage", "tensor", "opaque object"};
    return (unsigned)k <= VSSM_PK_OPAQUE ? names[k] : "?";
}

/* ---------------------------------------------------------------- the allow-list */
static const struct {
    const char *module, *name;
    int id;
} allowed[] = {
    {"collections", "OrderedDict", VSSM_PKG_ORDERED_DICT},
    {"torch._utils", "_rebuild_tensor_v2", VSSM_PKG_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", VSSM_PKG_REBUILD_PARAMETER},
    {"torch._utils", "_rebuild_parameter_with_state", VSSM_PKG_REBUILD_PARAMETER_WITH_STATE},
    {"torch._tensor", "_rebuild_from_type_v2", VSSM_PKG_REBUILD_FROM_TYPE_V2},
    {"torch", "Tensor", VSSM_PKG_TENSOR_TYPE},
    {"torch._tensor", "Tensor", VSSM_PKG_TENSOR_TYPE},
    {"torch.nn.parameter", "Parameter", VSSM_PKG_TENSOR_TYPE},
    {"torch", "FloatStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_F32},
    {"torch", "HalfStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_F16},
    {"torch", "BFloat16Storage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_BF16},
    {"torch", "DoubleStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_F64},
    {"torch", "LongStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_I64},
    {"torch", "IntStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_I32},
    {"torch", "ShortStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_I16},
    {"torch", "CharStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_I8},
    {"torch", "ByteStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_U8},
    {"torch", "BoolStorage", VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_BOOL},
    {"argparse", "Namespace", VSSM_PKG_INERT},
    {"yacs.config", "CfgNode", VSSM_PKG_INERT},
    {"numpy.core.multiarray", "scalar", VSSM_PKG_INERT},
    {"numpy.core.multiarray", "_reconstruct", VSSM_PKG_INERT},
    {"numpy", "dtype", VSSM_PKG_INERT},
    {"numpy", "ndarray", VSSM_PKG_INERT},
    {"_codecs", "encode", VSSM_PKG_INERT},
    {"torch", "device", VSSM_PKG_INERT},
};

/* ---------------------------------------------------------------- machine helpers */
static vssm_status fail(vssm_pk_machine *m, vssm_err *err, const char *fmt, const char *a, const char *b) {
    char what[300];
    snprintf(what, sizeof what, fmt, a ? a : "", b ? b : "");
    return vssm_err_set(err, VSSM_ERR_FORMAT, "pickle: %s (opcode 0x%02x at offset %zu)", what, m->op, m->pos);
}

static int push(vssm_pk_machine *m, vssm_pk_val *v) {
    if (!v) return 0;
    if (m->sp == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        vssm_pk_val **a = realloc(m->stack, nc * sizeof *a);
        if (!a) return 0;
        m->stack = a;
        m->cap = nc;
    }
    m->stack[m->sp++] = v;
    return 1;
}

/* &stack[i] for a run of n items: NULL when n is 0, so an empty run never does arithmetic
 * on a stack that was never allocated (NULL + 0 is undefined behaviour). */
static vssm_pk_val **stack_at(vssm_pk_machine *m, size_t i, size_t n) { return n ? m->stack + i : NULL; }

/* Start of the items above the topmost mark (popping the mark), or (size_t)-1. */
static size_t pop_mark(vssm_pk_machine *m) {
    if (!m->n_marks) return (size_t)-1;
    return m->marks[--m->n_marks];
}

static vssm_pk_val *make_seq(vssm_pk_machine *m, vssm_pk_kind kind, vssm_pk_val **items, size_t n) {
    vssm_pk_val *v = vssm_pk_new(m, kind);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!items_push(v, items[i])) return NULL;
    return v;
}

static vssm_pk_val *make_int(vssm_pk_machine *m, int64_t x, vssm_pk_kind kind) {
    vssm_pk_val *v = vssm_pk_new(m, kind);
    if (v) v->ival = x;
    return v;
}

static vssm_pk_val *make_str(vssm_pk_machine *m, const uint8_t *s, uint64_t n, vssm_pk_kind kind) {
    vssm_pk_val *v = vssm_pk_new(m, kind);
    if (!v) return NULL;
    v->str = malloc(n + 1);
    if (!v->str) return NULL;
    memcpy(v->str, s, n);
    v->str[n] = 0;
    v->n = (int64_t)n;
    return v;
}

static int is_int_tuple(const vssm_pk_val *t, int max) {
    if (t->kind != VSSM_PK_TUPLE || t->n > max) return 0;
    for (int64_t i = 0; i < t->n; i++)
        if (t->items[i]->kind != VSSM_PK_INT) return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]) */
static vssm_pk_val *rebuild_tensor(vssm_pk_machine *m, const vssm_pk_val *a, const char **why) {
    *why = "bad arguments to _rebuild_tensor_v2";
    if (a->kind != VSSM_PK_TUPLE || a->n < 4 || a->n > 7) return NULL;
    const vssm_pk_val *st = a->items[0], *off = a->items[1], *size = a->items[2], *stride = a->items[3];
    if (st->kind != VSSM_PK_STORAGE || off->kind != VSSM_PK_INT) return NULL;
    if (off->ival < 0) {
        *why = "tensor has a negative storage offset";
        return NULL;
    }
    if (!is_int_tuple(size, VSSM_PK_MAX_DIMS) || !is_int_tuple(stride, VSSM_PK_MAX_DIMS) || size->n != stride->n) {
        *why = "tensor size/stride are not matching tuples of at most 8 ints";
        return NULL;
    }
    *why = "out of memory";
    vssm_pk_val *v = vssm_pk_new(m, VSSM_PK_TENSOR);
    if (!v || !(v->tensor = calloc(1, sizeof *v->tensor))) return NULL;
    vssm_pk_tensor *t = v->tensor;
    t->storage = st;
    t->offset = off->ival;
    t->ndim = (int)size->n;
    for (int i = 0; i < t->ndim; i++) {
        t->size[i] = size->items[i]->ival;
        t->stride[i] = stride->items[i]->ival;
        if (t->size[i] < 0 || t->size[i] > ((int64_t)1 << 40) || t->stride[i] < 0 ||
            t->stride[i] > ((int64_t)1 << 40)) {
            *why = "tensor has a negative or absurd size or stride";
            return NULL;
        }
    }
    return v;
}

/* REDUCE / NEWOBJ target: callable f applied to args a. Never calls anything. */
static vssm_pk_val *apply(vssm_pk_machine *m, const vssm_pk_val *f, const vssm_pk_val *a, int newobj,
                          const char **why) {
    if (f->kind != VSSM_PK_GLOBAL) {
        *why = "call of a non-callable value";
        return NULL;
    }
    switch (f->ival) {
    case VSSM_PKG_ORDERED_DICT: {
        vssm_pk_val *d = vssm_pk_new(m, VSSM_PK_DICT);
        *why = "OrderedDict() takes no arguments or one list of pairs";
        if (!d || a->kind != VSSM_PK_TUPLE || a->n > 1) return NULL;
        if (a->n == 1) {
            const vssm_pk_val *l = a->items[0];
            if (l->kind != VSSM_PK_LIST) return NULL;
            for (int64_t i = 0; i < l->n; i++) {
                const vssm_pk_val *p = l->items[i];
                if ((p->kind != VSSM_PK_LIST && p->kind != VSSM_PK_TUPLE) || p->n != 2) return NULL;
                if (!items_push(d, p->items[0]) || !items_push(d, p->items[1])) return NULL;
            }
        }
        return d;
    }
    case VSSM_PKG_REBUILD_TENSOR_V2:
        if (newobj) break;
        return rebuild_tensor(m, a, why);
    case VSSM_PKG_REBUILD_PARAMETER:
    case VSSM_PKG_REBUILD_PARAMETER_WITH_STATE:
        if (newobj) break;
        *why = "bad arguments to _rebuild_parameter";
        if (a->kind != VSSM_PK_TUPLE || a->n < 1 || a->items[0]->kind != VSSM_PK_TENSOR) return NULL;
        return a->items[0];
    case VSSM_PKG_REBUILD_FROM_TYPE_V2: {
        /* (func, new_type, args, state): only a plain tensor or parameter rebuilt by one of
         * the builders above; the state is dropped */
        if (newobj) break;
        *why = "_rebuild_from_type_v2 is allowed only for torch.Tensor/Parameter rebuilt by _rebuild_tensor_v2";
        if (a->kind != VSSM_PK_TUPLE || a->n != 4) return NULL;
        const vssm_pk_val *fn = a->items[0], *ty = a->items[1], *args = a->items[2];
        if (fn->kind != VSSM_PK_GLOBAL || ty->kind != VSSM_PK_GLOBAL || ty->ival != VSSM_PKG_TENSOR_TYPE) return NULL;
        if (fn->ival != VSSM_PKG_REBUILD_TENSOR_V2 && fn->ival != VSSM_PKG_REBUILD_PARAMETER) return NULL;
        return apply(m, fn, args, 0, why); /* depth 1: fn is a builder, not this case */
    }
    case VSSM_PKG_INERT: *why = "out of memory"; return vssm_pk_new(m, VSSM_PK_OPAQUE);
    default: break;
    }
    *why = newobj ? "NEWOBJ on this global is not allowed" : "REDUCE on this global is not allowed";
    return NULL;
}

/* ---------------------------------------------------------------- the loop */
#define NEED(k)                                                                                        \
    do {                                                                                               \
        if ((size_t)(end - p) < (size_t)(k))                                                           \
            return fail(m, err, "truncated pickle: opcode needs %s more bytes than remain", "", NULL); \
    } while (0)
#define PUSH(v)                                                                                       \
    do {                                                                                              \
        if (!push(m, (v)))                                                                            \
            return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory or more than %d objects", \
                                VSSM_PK_MAX_VALUES);                                                  \
    } while (0)
#define POP(dst)                                                             \
    do {                                                                     \
        if (m->sp == 0 || (m->n_marks && m->marks[m->n_marks - 1] == m->sp)) \
            return fail(m, err, "stack underflow%s%s", NULL, NULL);          \
        (dst) = m->stack[--m->sp];                                           \
    } while (0)
#define TOP(dst)                                                             \
    do {                                                                     \
        if (m->sp == 0 || (m->n_marks && m->marks[m->n_marks - 1] == m->sp)) \
            return fail(m, err, "stack underflow%s%s", NULL, NULL);          \
        (dst) = m->stack[m->sp - 1];                                         \
    } while (0)

static vssm_status memo_put(vssm_pk_machine *m, uint64_t idx, vssm_err *err) {
    if (m->sp == 0) return fail(m, err, "memo store with an empty stack%s%s", NULL, NULL);
    if (idx >= m->limit_memo) return fail(m, err, "memo index out of range%s%s", NULL, NULL);
    if (idx >= m->n_memo) {
        size_t nn = m->n_memo ? m->n_memo : 64;
        while (nn <= idx) nn *= 2;
        if (nn > m->limit_memo) nn = m->limit_memo;
        vssm_pk_val **a = realloc(m->memo, nn * sizeof *a);
        if (!a) return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory (memo)");
        memset(a + m->n_memo, 0, (nn - m->n_memo) * sizeof *a);
        m->memo = a;
        m->n_memo = nn;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = m->stack[m->sp - 1];
    return VSSM_OK;
}

static vssm_status memo_get(vssm_pk_machine *m, uint64_t idx, vssm_err *err) {
    if (idx >= m->n_memo || !m->memo[idx]) {
        char b[32];
        snprintf(b, sizeof b, "%llu", (unsigned long long)idx);
        return fail(m, err, "memo index %s out of range (never stored)%s", b, NULL);
    }
    if (!push(m, m->memo[idx])) return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
    return VSSM_OK;
}

static vssm_status do_global(vssm_pk_machine *m, const char *mod, const char *name, vssm_err *err) {
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (!strcmp(allowed[i].module, mod) && !strcmp(allowed[i].name, name)) {
            vssm_pk_val *v = make_int(m, allowed[i].id, VSSM_PK_GLOBAL);
            if (!push(m, v)) return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
            return VSSM_OK;
        }
    return fail(m, err, "global '%.120s.%.120s' is not on the allow-list (refused, nothing was run)", mod, name);
}

/* Reads "module\nname\n" for GLOBAL. */
static vssm_status read_global_text(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, vssm_err *err) {
    const uint8_t *p = *pp;
    char parts[2][256];
    for (int k = 0; k < 2; k++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl - p >= 256) return fail(m, err, "bad GLOBAL operand%s%s", NULL, NULL);
        memcpy(parts[k], p, (size_t)(nl - p));
        parts[k][nl - p] = 0;
        p = nl + 1;
    }
    *pp = p;
    return do_global(m, parts[0], parts[1], err);
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = x << 8 | p[i];
    return x;
}

/* The opcode handlers: each consumes m->op's operand from *pp and returns VSSM_OK, an error
 * (named), or NOT_MINE (no vssm_status value) with err untouched when the opcode is not its own. */
#define NOT_MINE ((vssm_status)-1)

/* numbers, booleans, None, strings and bytes */
static vssm_status op_scalar(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, vssm_err *err) {
    const uint8_t *p = *pp;
    switch (m->op) {
    case 'N': PUSH(vssm_pk_new(m, VSSM_PK_NONE)); break;
    case 0x88: PUSH(make_int(m, 1, VSSM_PK_BOOL)); break;
    case 0x89: PUSH(make_int(m, 0, VSSM_PK_BOOL)); break;
    case 'J':
        NEED(4);
        PUSH(make_int(m, (int32_t)le(p, 4), VSSM_PK_INT));
        p += 4;
        break;
    case 'K':
        NEED(1);
        PUSH(make_int(m, p[0], VSSM_PK_INT));
        p += 1;
        break;
    case 'M':
        NEED(2);
        PUSH(make_int(m, (int64_t)le(p, 2), VSSM_PK_INT));
        p += 2;
        break;
    case 0x8a: { /* LONG1 */
        NEED(1);
        int k = p[0];
        if (k > 8) return fail(m, err, "integer wider than 64 bits%s%s", NULL, NULL);
        NEED(1 + k);
        uint64_t x = le(p + 1, k);
        if (k > 0 && k < 8 && (p[k] & 0x80)) x |= ~(uint64_t)0 << (8 * k); /* sign-extend */
        PUSH(make_int(m, (int64_t)x, VSSM_PK_INT));
        p += 1 + k;
        break;
    }
    case 'I': { /* INT (text): also bools "01"/"00" */
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl - p > 20 || nl == p) return fail(m, err, "bad INT operand%s%s", NULL, NULL);
        char t[24];
        memcpy(t, p, (size_t)(nl - p));
        t[nl - p] = 0;
        char *e;
        errno = 0;
        long long x = strtoll(t, &e, 10);
        if (*e || errno == ERANGE) return fail(m, err, "bad INT operand (not a 64-bit integer)%s%s", NULL, NULL);
        if (!strcmp(t, "01") || !strcmp(t, "00"))
            PUSH(make_int(m, x, VSSM_PK_BOOL));
        else
            PUSH(make_int(m, x, VSSM_PK_INT));
        p = nl + 1;
        break;
    }
    case 'G': { /* BINFLOAT (big-endian) */
        NEED(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = bits << 8 | p[i];
        vssm_pk_val *v = vssm_pk_new(m, VSSM_PK_FLOAT);
        if (v) memcpy(&v->fval, &bits, 8);
        PUSH(v);
        p += 8;
        break;
    }
    case 'X':
    case 0x8c:
    case 0x8d: /* BINUNICODE, SHORT_, 8 */
    case 'B':
    case 'C':
    case 0x8e: /* BINBYTES, SHORT_, 8 */
    case 'T':
    case 'U': { /* BINSTRING, SHORT_ */
        int w = (m->op == 0x8c || m->op == 'C' || m->op == 'U') ? 1 : (m->op == 0x8d || m->op == 0x8e) ? 8 : 4;
        NEED(w);
        uint64_t len = le(p, w);
        p += w;
        if (len > (uint64_t)(end - p))
            return fail(m, err, "string length runs past the end of the pickle%s%s", NULL, NULL);
        int text = m->op == 'X' || m->op == 0x8c || m->op == 0x8d;
        PUSH(make_str(m, p, len, text ? VSSM_PK_STR : VSSM_PK_BYTES));
        p += len;
        break;
    }
    default: return NOT_MINE;
    }
    *pp = p;
    return VSSM_OK;
}

/* tuples, lists, dicts and what adds to them */
static vssm_status op_container(vssm_pk_machine *m, vssm_err *err) {
    vssm_pk_val *a, *b, *c;
    switch (m->op) {
    case ')': PUSH(make_seq(m, VSSM_PK_TUPLE, NULL, 0)); break;
    case ']': PUSH(make_seq(m, VSSM_PK_LIST, NULL, 0)); break;
    case '}': PUSH(make_seq(m, VSSM_PK_DICT, NULL, 0)); break;
    case 0x8f: PUSH(make_seq(m, VSSM_PK_LIST, NULL, 0)); break; /* EMPTY_SET: kept as a list */
    case 0x85:
    case 0x86:
    case 0x87: { /* TUPLE1..3 */
        size_t k = (size_t)(m->op - 0x84);
        size_t base = m->n_marks ? m->marks[m->n_marks - 1] : 0;
        if (m->sp < base + k) return fail(m, err, "stack underflow%s%s", NULL, NULL);
        m->sp -= k;
        PUSH(make_seq(m, VSSM_PK_TUPLE, stack_at(m, m->sp, k), k));
        break;
    }
    case 't':
    case 'l':
    case 0x91: { /* TUPLE, LIST, FROZENSET (from mark) */
        size_t base = pop_mark(m);
        if (base == (size_t)-1) return fail(m, err, "TUPLE/LIST without MARK%s%s", NULL, NULL);
        size_t k = m->sp - base;
        m->sp = base;
        PUSH(make_seq(m, m->op == 't' ? VSSM_PK_TUPLE : VSSM_PK_LIST, stack_at(m, base, k), k));
        break;
    }
    case 'd': { /* DICT (from mark) */
        size_t base = pop_mark(m);
        if (base == (size_t)-1 || (m->sp - base) % 2)
            return fail(m, err, "DICT without MARK or with an odd item count%s%s", NULL, NULL);
        size_t k = m->sp - base;
        m->sp = base;
        PUSH(make_seq(m, VSSM_PK_DICT, stack_at(m, base, k), k));
        break;
    }
    case 'a': /* APPEND */
        POP(b);
        TOP(a);
        if (a->kind == VSSM_PK_LIST) {
            if (!items_push(a, b)) return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
        } else if (a->kind != VSSM_PK_OPAQUE)
            return fail(m, err, "APPEND to a %s%s", vssm_pk_kind_name(a->kind), NULL);
        break;
    case 'e':
    case 0x90:
    case 'u': { /* APPENDS, ADDITEMS, SETITEMS */
        size_t base = pop_mark(m);
        if (base == (size_t)-1 || base == 0)
            return fail(m, err, "APPENDS/SETITEMS without MARK or target%s%s", NULL, NULL);
        a = m->stack[base - 1];
        size_t k = m->sp - base;
        int dict = m->op == 'u';
        if (dict && k % 2) return fail(m, err, "SETITEMS with an odd item count%s%s", NULL, NULL);
        if (a->kind == (dict ? VSSM_PK_DICT : VSSM_PK_LIST)) {
            for (size_t i = 0; i < k; i++)
                if (!items_push(a, m->stack[base + i]))
                    return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
        } else if (a->kind != VSSM_PK_OPAQUE) {
            return fail(m, err, "%s into a %s", dict ? "SETITEMS" : "APPENDS", vssm_pk_kind_name(a->kind));
        }
        m->sp = base;
        break;
    }
    case 's': /* SETITEM */
        POP(c);
        POP(b);
        TOP(a);
        if (a->kind == VSSM_PK_DICT) {
            if (!items_push(a, b) || !items_push(a, c))
                return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
        } else if (a->kind != VSSM_PK_OPAQUE) {
            return fail(m, err, "SETITEM on a %s%s", vssm_pk_kind_name(a->kind), NULL);
        }
        break;
    default: return NOT_MINE;
    }
    return VSSM_OK;
}

/* a decimal memo index ending in '\n' (PUT, GET) */
static vssm_status text_index(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, const char *what,
                              uint64_t *idx, vssm_err *err) {
    const uint8_t *p = *pp;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl - p > 18) return fail(m, err, "bad %s operand%s", what, NULL);
    *idx = 0;
    for (const uint8_t *q = p; q < nl; q++) {
        if (*q < '0' || *q > '9') return fail(m, err, "bad %s operand%s", what, NULL);
        *idx = *idx * 10 + (uint64_t)(*q - '0');
    }
    *pp = nl + 1;
    return VSSM_OK;
}

/* the memo: PUT, BINPUT, LONG_BINPUT, MEMOIZE, GET, BINGET, LONG_BINGET */
static vssm_status op_memo(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, vssm_err *err) {
    const uint8_t *p = *pp;
    uint64_t idx;
    vssm_status s;
    switch (m->op) {
    case 'p':
        if ((s = text_index(m, &p, end, "PUT", &idx, err))) return s;
        s = memo_put(m, idx, err);
        break;
    case 'q':
        NEED(1);
        s = memo_put(m, p[0], err);
        p += 1;
        break;
    case 'r':
        NEED(4);
        s = memo_put(m, le(p, 4), err);
        p += 4;
        break;
    case 0x94: s = memo_put(m, m->memo_count, err); break;
    case 'g':
        if ((s = text_index(m, &p, end, "GET", &idx, err))) return s;
        s = memo_get(m, idx, err);
        break;
    case 'h':
        NEED(1);
        s = memo_get(m, p[0], err);
        p += 1;
        break;
    case 'j':
        NEED(4);
        s = memo_get(m, le(p, 4), err);
        p += 4;
        break;
    default: return NOT_MINE;
    }
    *pp = p;
    return s;
}

/* globals on the allow-list, what may be applied to them, state and persistent ids */
static vssm_status op_call(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, vssm_pk_persistent_fn persistent,
                           void *user, vssm_err *err) {
    vssm_pk_val *a, *b, *c;
    vssm_status s;
    const char *why;
    switch (m->op) {
    case 'c': return read_global_text(m, pp, end, err); /* GLOBAL */
    case 0x93:                                          /* STACK_GLOBAL */
        POP(b);
        POP(a);
        if (a->kind != VSSM_PK_STR || b->kind != VSSM_PK_STR)
            return fail(m, err, "STACK_GLOBAL needs two strings%s%s", NULL, NULL);
        return do_global(m, a->str, b->str, err);
    case 'R':
    case 0x81: { /* REDUCE, NEWOBJ */
        POP(b);
        POP(a);
        vssm_pk_val *r = apply(m, a, b, m->op == 0x81, &why);
        if (!r) return fail(m, err, "%s%s", why, NULL);
        PUSH(r);
        return VSSM_OK;
    }
    case 0x92: /* NEWOBJ_EX: inert classes only */
        POP(c);
        POP(b);
        POP(a);
        (void)b, (void)c;
        if (a->kind != VSSM_PK_GLOBAL || a->ival != VSSM_PKG_INERT)
            return fail(m, err, "NEWOBJ_EX on this value is not allowed%s%s", NULL, NULL);
        PUSH(vssm_pk_new(m, VSSM_PK_OPAQUE));
        return VSSM_OK;
    case 'b': /* BUILD: state dropped */
        POP(b);
        TOP(a);
        (void)b;
        if (a->kind != VSSM_PK_DICT && a->kind != VSSM_PK_OPAQUE)
            return fail(m, err, "BUILD on a %s is not allowed%s", vssm_pk_kind_name(a->kind), NULL);
        return VSSM_OK;
    case 'Q': { /* BINPERSID */
        POP(a);
        if (!persistent) return fail(m, err, "persistent id without a loader%s%s", NULL, NULL);
        vssm_pk_val *r = persistent(user, m, a, err);
        if (!r) return err ? err->status : VSSM_ERR_FORMAT;
        PUSH(r);
        return VSSM_OK;
    }
    default: (void)s; return NOT_MINE;
    }
}

/* the stack and its marks: PROTO, FRAME, MARK, POP, POP_MARK, DUP; and the refused opcodes */
static vssm_status op_stack(vssm_pk_machine *m, const uint8_t **pp, const uint8_t *end, vssm_err *err) {
    const uint8_t *p = *pp;
    vssm_pk_val *a;
    switch (m->op) {
    case 0x80:
        NEED(1);
        p++;
        break; /* PROTO */
    case 0x95:
        NEED(8);
        p += 8;
        break; /* FRAME (framing hint only) */
    case '(':  /* MARK */
        if (m->n_marks == m->cap_marks) {
            size_t nc = m->cap_marks ? m->cap_marks * 2 : 32;
            size_t *mk = realloc(m->marks, nc * sizeof *mk);
            if (!mk) return vssm_err_set(err, VSSM_ERR_NOMEM, "pickle: out of memory");
            m->marks = mk;
            m->cap_marks = nc;
        }
        m->marks[m->n_marks++] = m->sp;
        break;
    case '0': POP(a); break; /* POP */
    case '1':                /* POP_MARK */
        if ((m->sp = pop_mark(m)) == (size_t)-1) return fail(m, err, "POP_MARK without MARK%s%s", NULL, NULL);
        break;
    case '2':
        TOP(a);
        PUSH(a);
        break; /* DUP */
    case 'i': return fail(m, err, "opcode INST is not allowed (it calls a class)%s%s", NULL, NULL);
    case 'o': return fail(m, err, "opcode OBJ is not allowed (it calls a class)%s%s", NULL, NULL);
    case 0x82:
    case 0x83:
    case 0x84: return fail(m, err, "extension-registry opcodes (EXT1/2/4) are not allowed%s%s", NULL, NULL);
    case 'P': return fail(m, err, "text persistent ids (PERSID) are not allowed%s%s", NULL, NULL);
    default: {
        char b2[8];
        snprintf(b2, sizeof b2, "%c", (m->op >= 32 && m->op < 127) ? m->op : '?');
        return fail(m, err, "opcode '%s' is not allowed%s", b2, NULL);
    }
    }
    *pp = p;
    return VSSM_OK;
}

static vssm_status run(vssm_pk_machine *m, const uint8_t *data, size_t n, vssm_pk_persistent_fn persistent, void *user,
                       vssm_pk_val **result, vssm_err *err) {
    const uint8_t *p = data, *end = data + n;
    for (;;) {
        if (p >= end) return vssm_err_set(err, VSSM_ERR_FORMAT, "pickle: truncated (no STOP opcode)");
        m->pos = (size_t)(p - data);
        m->op = *p++;
        if (m->op == '.') { /* STOP */
            vssm_pk_val *a;
            POP(a);
            *result = a;
            return VSSM_OK;
        }
        vssm_status s = op_scalar(m, &p, end, err);
        if (s == NOT_MINE) s = op_container(m, err);
        if (s == NOT_MINE) s = op_memo(m, &p, end, err);
        if (s == NOT_MINE) s = op_call(m, &p, end, persistent, user, err);
        if (s == NOT_MINE) s = op_stack(m, &p, end, err);
        if (s != VSSM_OK) return s;
    }
}

vssm_status vssm_pk_run(vssm_pk_machine **out, const uint8_t *data, size_t n, vssm_pk_persistent_fn persistent,
                        void *user, vssm_pk_val **result, vssm_err *err) {
    *out = NULL;
    *result = NULL;
    vssm_pk_machine *m = calloc(1, sizeof *m);
    if (!m) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    /* each memo store costs at least one byte of pickle, and pickle numbers its memo entries
     * 0, 1, 2, ... one per object it made, which is never more than VSSM_PK_MAX_VALUES: so
     * the memo table stays below 32 MiB whatever index a file names */
    m->limit_memo = n + 1 < VSSM_PK_MAX_VALUES ? n + 1 : VSSM_PK_MAX_VALUES;
    vssm_status s = run(m, data, n, persistent, user, result, err);
    if (s) {
        vssm_pk_free(m);
        *result = NULL;
        return s;
    }
    *out = m;
    return VSSM_OK;
}
