/* datasets/video_write.c - RGB frames out to a video file (FFmpeg: libavcodec encodes,
 * libavformat muxes into the container the file name asks for, libswscale converts), written
 * through vssm/outfile.h, and text drawn onto frames. The contract is in vssm/video.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vssm/outfile.h"
#include "vssm/video.h"

/* ---------------------------------------------------------------- text */

/* Pillow's default bitmap font (ImageFont.load_default()), ASCII 32..126: 11 rows of 6 pixels,
 * bit 5 the leftmost */
static const unsigned char font6x11[95][11] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},         {0, 0, 0, 24, 24, 24, 24, 0, 24, 0, 0},
    {0, 0, 0, 20, 20, 20, 0, 0, 0, 0, 0},      {0, 0, 20, 20, 62, 20, 20, 62, 20, 20, 0},
    {0, 8, 30, 50, 60, 30, 6, 54, 60, 8, 0},   {0, 0, 56, 42, 60, 8, 30, 42, 14, 0, 0},
    {0, 0, 0, 28, 48, 24, 62, 44, 62, 0, 0},   {0, 0, 12, 8, 16, 0, 0, 0, 0, 0, 0},
    {0, 0, 4, 8, 24, 24, 24, 24, 8, 4, 0},     {0, 0, 16, 8, 12, 12, 12, 12, 8, 16, 0},
    {0, 0, 8, 60, 24, 36, 0, 0, 0, 0, 0},      {0, 0, 0, 8, 8, 62, 8, 8, 0, 0, 0},
    {0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 16},       {0, 0, 0, 0, 0, 62, 0, 0, 0, 0, 0},
    {0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0},        {0, 0, 2, 2, 4, 4, 8, 8, 16, 16, 0},
    {0, 0, 28, 54, 54, 54, 54, 54, 28, 0, 0},  {0, 0, 12, 60, 12, 12, 12, 12, 63, 0, 0},
    {0, 0, 28, 54, 6, 12, 24, 54, 62, 0, 0},   {0, 0, 28, 54, 6, 28, 6, 54, 28, 0, 0},
    {0, 0, 6, 14, 22, 54, 63, 6, 6, 0, 0},     {0, 0, 62, 48, 60, 54, 6, 38, 60, 0, 0},
    {0, 0, 28, 54, 48, 60, 54, 54, 28, 0, 0},  {0, 0, 62, 54, 6, 12, 12, 24, 24, 0, 0},
    {0, 0, 28, 54, 54, 28, 54, 54, 28, 0, 0},  {0, 0, 28, 54, 54, 30, 6, 54, 28, 0, 0},
    {0, 0, 0, 0, 0, 24, 0, 0, 24, 0, 0},       {0, 0, 0, 0, 0, 24, 0, 0, 24, 16, 32},
    {0, 0, 0, 12, 24, 48, 24, 12, 0, 0, 0},    {0, 0, 0, 0, 60, 0, 60, 0, 0, 0, 0},
    {0, 0, 0, 24, 12, 6, 12, 24, 0, 0, 0},     {0, 0, 0, 28, 38, 12, 24, 0, 24, 0, 0},
    {0, 0, 28, 50, 38, 42, 42, 39, 48, 28, 0}, {0, 0, 0, 60, 28, 20, 62, 54, 55, 0, 0},
    {0, 0, 0, 60, 54, 60, 54, 54, 60, 0, 0},   {0, 0, 0, 30, 54, 48, 48, 54, 28, 0, 0},
    {0, 0, 0, 60, 54, 54, 54, 54, 60, 0, 0},   {0, 0, 0, 62, 48, 60, 48, 54, 62, 0, 0},
    {0, 0, 0, 62, 48, 60, 48, 48, 56, 0, 0},   {0, 0, 0, 28, 54, 48, 62, 54, 30, 0, 0},
    {0, 0, 0, 55, 54, 62, 54, 54, 55, 0, 0},   {0, 0, 0, 60, 24, 24, 24, 24, 60, 0, 0},
    {0, 0, 0, 30, 12, 12, 44, 44, 56, 0, 0},   {0, 0, 0, 54, 52, 56, 60, 54, 59, 0, 0},
    {0, 0, 0, 56, 48, 48, 48, 54, 62, 0, 0},   {0, 0, 0, 34, 54, 54, 62, 42, 42, 0, 0},
    {0, 0, 0, 55, 58, 58, 54, 54, 50, 0, 0},   {0, 0, 0, 28, 54, 54, 54, 54, 28, 0, 0},
    {0, 0, 0, 60, 54, 54, 60, 48, 56, 0, 0},   {0, 0, 0, 28, 54, 54, 54, 54, 28, 6, 0},
    {0, 0, 0, 60, 54, 54, 60, 54, 59, 0, 0},   {0, 0, 0, 30, 50, 60, 14, 38, 60, 0, 0},
    {0, 0, 0, 62, 26, 24, 24, 24, 60, 0, 0},   {0, 0, 0, 55, 54, 54, 54, 54, 28, 0, 0},
    {0, 0, 0, 55, 54, 20, 28, 28, 8, 0, 0},    {0, 0, 0, 43, 42, 42, 62, 28, 20, 0, 0},
    {0, 0, 0, 51, 30, 12, 12, 30, 51, 0, 0},   {0, 0, 0, 51, 51, 30, 12, 12, 30, 0, 0},
    {0, 0, 0, 62, 54, 12, 24, 54, 62, 0, 0},   {0, 0, 28, 24, 24, 24, 24, 24, 24, 28, 0},
    {0, 0, 32, 32, 16, 16, 8, 8, 4, 4, 0},     {0, 0, 28, 12, 12, 12, 12, 12, 12, 28, 0},
    {0, 0, 8, 28, 54, 0, 0, 0, 0, 0, 0},       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 63},
    {0, 0, 24, 8, 4, 0, 0, 0, 0, 0, 0},        {0, 0, 0, 0, 28, 54, 30, 54, 63, 0, 0},
    {0, 0, 48, 48, 60, 54, 54, 54, 60, 0, 0},  {0, 0, 0, 0, 28, 54, 48, 54, 28, 0, 0},
    {0, 0, 14, 6, 30, 54, 54, 54, 31, 0, 0},   {0, 0, 0, 0, 28, 54, 62, 48, 30, 0, 0},
    {0, 0, 14, 24, 62, 24, 24, 24, 62, 0, 0},  {0, 0, 0, 0, 27, 54, 54, 54, 30, 6, 60},
    {0, 0, 48, 48, 60, 54, 54, 54, 54, 0, 0},  {0, 0, 12, 0, 60, 12, 12, 12, 63, 0, 0},
    {0, 0, 12, 0, 60, 12, 12, 12, 12, 12, 56}, {0, 0, 48, 48, 54, 60, 56, 60, 55, 0, 0},
    {0, 0, 60, 12, 12, 12, 12, 12, 63, 0, 0},  {0, 0, 0, 0, 60, 62, 42, 42, 42, 0, 0},
    {0, 0, 0, 0, 44, 54, 54, 54, 54, 0, 0},    {0, 0, 0, 0, 28, 54, 54, 54, 28, 0, 0},
    {0, 0, 0, 0, 60, 54, 54, 54, 60, 48, 56},  {0, 0, 0, 0, 27, 54, 54, 54, 30, 6, 15},
    {0, 0, 0, 0, 55, 29, 24, 24, 60, 0, 0},    {0, 0, 0, 0, 30, 56, 30, 7, 62, 0, 0},
    {0, 0, 24, 24, 62, 24, 24, 27, 14, 0, 0},  {0, 0, 0, 0, 54, 54, 54, 54, 31, 0, 0},
    {0, 0, 0, 0, 54, 54, 28, 28, 8, 0, 0},     {0, 0, 0, 0, 43, 42, 62, 30, 20, 0, 0},
    {0, 0, 0, 0, 59, 30, 12, 30, 55, 0, 0},    {0, 0, 0, 0, 55, 54, 54, 20, 28, 24, 48},
    {0, 0, 0, 0, 62, 44, 24, 54, 62, 0, 0},    {0, 0, 6, 12, 12, 24, 12, 12, 12, 6, 0},
    {0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 0},         {0, 0, 48, 24, 24, 12, 24, 24, 24, 48, 0},
    {0, 0, 0, 0, 26, 44, 0, 0, 0, 0, 0},
};

void vssm_image_draw_text(vssm_image *im, int x, int y, const char *text, const uint8_t rgb[3], int scale) {
    if (!im || !im->data || im->c != 3 || !text) return;
    if (scale < 1) scale = 1;
    if (scale > 1 << 16) scale = 1 << 16; /* a glyph pixel far larger than any image: bounds the sums below */
    const size_t len = strlen(text);
    const int n = len > (1u << 20) ? 1 << 20 : (int)len, pad = scale;
    /* the spans in int64 (x + n * 6 * scale overflows int), every loop clipped to the image */
    const int64_t x0 = (int64_t)x - pad, y0 = (int64_t)y - pad, x1 = (int64_t)x + (int64_t)n * 6 * scale + pad,
                  y1 = (int64_t)y + 11 * (int64_t)scale + pad;
    for (int64_t yy = y0 < 0 ? 0 : y0; yy < y1 && yy < im->h; yy++) /* the dark backing box */
        for (int64_t xx = x0 < 0 ? 0 : x0; xx < x1 && xx < im->w; xx++) {
            uint8_t *p = im->data + ((size_t)yy * im->w + xx) * 3;
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)(p[c] * 3 / 10);
        }
    for (int k = 0; k < n && (int64_t)x + (int64_t)k * 6 * scale < im->w; k++) {
        int ch = (unsigned char)text[k];
        const unsigned char *g = font6x11[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
        for (int gy = 0; gy < 11; gy++)
            for (int gx = 0; gx < 6; gx++) {
                if (!(g[gy] >> (5 - gx) & 1)) continue;
                /* the glyph pixel's scale x scale square, clipped to the image */
                const int64_t bx = (int64_t)x + (int64_t)(k * 6 + gx) * scale, by = (int64_t)y + (int64_t)gy * scale;
                const int64_t xa = bx < 0 ? 0 : bx, xb = bx + scale < im->w ? bx + scale : im->w;
                const int64_t ya = by < 0 ? 0 : by, yb = by + scale < im->h ? by + scale : im->h;
                for (int64_t py = ya; py < yb; py++)
                    for (int64_t px = xa; px < xb; px++) memcpy(im->data + ((size_t)py * im->w + px) * 3, rgb, 3);
            }
    }
}

#ifndef VSSM_HAVE_VIDEO

vssm_status vssm_video_writer_open(vssm_video_writer **out, const char *path, int width, int height,
                                   const vssm_video_writer_opts *opts, vssm_err *err) {
    if (out) *out = NULL;
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                        "%s: this vssm was built without video support (FFmpeg's "
                        "libraries)",
                        path ? path : "(null)");
}
const char *vssm_video_writer_codec(const vssm_video_writer *w) { return ""; }
vssm_status vssm_video_write(vssm_video_writer *w, const vssm_image *frame, vssm_err *err) {
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "this vssm was built without video support");
}
vssm_status vssm_video_writer_close(vssm_video_writer *w, vssm_err *err) {
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "this vssm was built without video support");
}
void vssm_video_writer_abort(vssm_video_writer *w) {}

#else

#include <sys/stat.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "datasets/video_internal.h"

struct vssm_video_writer {
    vssm_outfile of;
    AVFormatContext *oc;
    AVIOContext *io;
    AVCodecContext *enc;
    AVStream *st;
    struct SwsContext *sws;
    AVFrame *frm;
    AVPacket *pkt;
    AVFrame *rgb; /* (eh, ew) RGB24, aligned rows: swscale's SIMD garbles the last
                                * columns of a packed row whose stride is not a multiple of 16 */
    int w, h, ew, eh;
    int64_t next_pts;
    int header_written;
    char codec[32];
};

/* ---- the muxer writes into the outfile's FILE (the temp name), seeking where it must (MP4) */
#if LIBAVFORMAT_VERSION_MAJOR >= 61
static int io_write(void *op, const uint8_t *buf, int n) {
#else
static int io_write(void *op, uint8_t *buf, int n) {
#endif
    return fwrite(buf, 1, (size_t)n, (FILE *)op) == (size_t)n ? n : AVERROR(EIO);
}

static int64_t io_seek(void *op, int64_t off, int whence) {
    FILE *f = op;
    if (whence & AVSEEK_SIZE) {
        struct stat sb;
        return fflush(f) == 0 && fstat(fileno(f), &sb) == 0 ? (int64_t)sb.st_size : AVERROR(EIO);
    }
    whence &= ~AVSEEK_FORCE;
    if (fseeko(f, (off_t)off, whence) != 0) return AVERROR(EIO);
    return (int64_t)ftello(f);
}

static vssm_status werr(vssm_video_writer *w, vssm_err *err, vssm_status st, const char *what, int code) {
    char e[AV_ERROR_MAX_STRING_SIZE];
    if (code) return vssm_err_set(err, st, "%s: %s (%s)", w->of.path, what, vssm_video_averr(code, e, sizeof e));
    return vssm_err_set(err, st, "%s: %s", w->of.path, what);
}

static int is_lossless(const char *name) { return !strcmp(name, "png") || !strcmp(name, "ffv1"); }

/* the named encoder, or the first of H.264 / MPEG-4 part 2 / MJPEG the container takes */
static const AVCodec *pick_encoder(const AVOutputFormat *of, const char *want) {
    static const char *const order[] = {"libx264", "mpeg4", "mjpeg"};
    for (int k = 0; k < (want ? 1 : 3); k++) {
        const AVCodec *c = avcodec_find_encoder_by_name(want ? want : order[k]);
        if (c && c->type == AVMEDIA_TYPE_VIDEO && avformat_query_codec(of, c->id, FF_COMPLIANCE_NORMAL) != 0) return c;
    }
    return NULL;
}

static enum AVPixelFormat pick_pix_fmt(const AVCodec *c) {
    static const enum AVPixelFormat lossless[] = {AV_PIX_FMT_RGB24, AV_PIX_FMT_BGR0, AV_PIX_FMT_GBRP, AV_PIX_FMT_NONE};
    static const enum AVPixelFormat lossy[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_NONE};
    static const enum AVPixelFormat jpeg[] = {AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_NONE}; /* full range, as JPEG */
    const enum AVPixelFormat *pref = is_lossless(c->name) ? lossless : !strcmp(c->name, "mjpeg") ? jpeg : lossy;
    if (!c->pix_fmts) return AV_PIX_FMT_YUV420P;
    for (int k = 0; pref[k] != AV_PIX_FMT_NONE; k++)
        for (int j = 0; c->pix_fmts[j] != AV_PIX_FMT_NONE; j++)
            if (c->pix_fmts[j] == pref[k]) return pref[k];
    return c->pix_fmts[0];
}

static vssm_status open_encoder(vssm_video_writer *w, const AVCodec *c, const vssm_video_writer_opts *o,
                                vssm_err *err) {
    AVCodecContext *e = w->enc = avcodec_alloc_context3(c);
    if (!e) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", 0);
    e->pix_fmt = pick_pix_fmt(c);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(e->pix_fmt);
    w->ew = d && d->log2_chroma_w ? (w->w + 1) & ~1 : w->w; /* 4:2:0 needs even sides */
    w->eh = d && d->log2_chroma_h ? (w->h + 1) & ~1 : w->h;
    e->width = w->ew;
    e->height = w->eh;
    int num = o && o->fps_num > 0 ? o->fps_num : 25, den = o && o->fps_den > 0 ? o->fps_den : 1;
    e->time_base = (AVRational){den, num};
    e->framerate = (AVRational){num, den};
    e->gop_size = 12;
    e->thread_count = o && o->threads > 0 ? o->threads : 1;
    if (!strcmp(c->name, "libx264")) {
        av_opt_set(e->priv_data, "preset", "veryfast", 0);
        av_opt_set(e->priv_data, "crf", "23", 0);
    } else if (!is_lossless(c->name)) { /* MPEG-4 / MJPEG: a fixed quantiser, not a 200 kb/s budget */
        e->flags |= AV_CODEC_FLAG_QSCALE;
        e->global_quality = FF_QP2LAMBDA * 3;
    }
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int ret = avcodec_open2(e, c, NULL);
    if (ret < 0) return werr(w, err, VSSM_ERR_UNSUPPORTED, "cannot open the encoder", ret);
    snprintf(w->codec, sizeof w->codec, "%s", c->name);
    if (!(w->st = avformat_new_stream(w->oc, NULL))) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", 0);
    w->st->time_base = e->time_base;
    if ((ret = avcodec_parameters_from_context(w->st->codecpar, e)) < 0)
        return werr(w, err, VSSM_ERR_UNSUPPORTED, "cannot describe the stream", ret);
    if (!(w->frm = av_frame_alloc()) || !(w->pkt = av_packet_alloc()))
        return werr(w, err, VSSM_ERR_NOMEM, "out of memory", 0);
    w->frm->format = e->pix_fmt;
    w->frm->width = w->ew;
    w->frm->height = w->eh;
    if ((ret = av_frame_get_buffer(w->frm, 0)) < 0) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", ret);
    if (!(w->rgb = av_frame_alloc())) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", 0);
    w->rgb->format = AV_PIX_FMT_RGB24;
    w->rgb->width = w->ew;
    w->rgb->height = w->eh;
    if ((ret = av_frame_get_buffer(w->rgb, 0)) < 0) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", ret);
    w->sws = sws_getContext(w->ew, w->eh, AV_PIX_FMT_RGB24, w->ew, w->eh, e->pix_fmt, SWS_BICUBIC, NULL, NULL, NULL);
    if (!w->sws) return werr(w, err, VSSM_ERR_UNSUPPORTED, "cannot convert RGB to the encoder's pixel format", 0);
    return VSSM_OK;
}

/* the muxer over the outfile: container from path's extension, codec, header */
static vssm_status open_muxer(vssm_video_writer *w, const char *path, const vssm_video_writer_opts *o, vssm_err *err) {
    int ret = avformat_alloc_output_context2(&w->oc, NULL, NULL, path);
    if (ret < 0 || !w->oc)
        return werr(w, err, VSSM_ERR_INVALID_ARG, "cannot tell the container from the name (use .mp4, .mkv, .avi, ...)",
                    0);
    const AVCodec *c = pick_encoder(w->oc->oformat, o ? o->codec : NULL);
    if (!c) {
        char what[160];
        snprintf(what, sizeof what, "no %s encoder in this FFmpeg for a %s file",
                 o && o->codec ? o->codec : "H.264, MPEG-4 or MJPEG", w->oc->oformat->name);
        return werr(w, err, VSSM_ERR_UNSUPPORTED, what, 0);
    }
    vssm_status st = open_encoder(w, c, o, err);
    if (st != VSSM_OK) return st;
    unsigned char *buf = av_malloc(1 << 16);
    if (!buf || !(w->io = avio_alloc_context(buf, 1 << 16, 1, w->of.f, NULL, io_write, io_seek))) {
        av_free(buf);
        return werr(w, err, VSSM_ERR_NOMEM, "out of memory", 0);
    }
    w->oc->pb = w->io;
    w->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    if ((ret = avformat_write_header(w->oc, NULL)) < 0)
        return werr(w, err, VSSM_ERR_IO, "cannot write the header", ret);
    w->header_written = 1;
    return VSSM_OK;
}

static void writer_free(vssm_video_writer *w) {
    sws_freeContext(w->sws);
    av_frame_free(&w->frm);
    av_packet_free(&w->pkt);
    avcodec_free_context(&w->enc);
    if (w->io) av_freep(&w->io->buffer);
    avio_context_free(&w->io);
    avformat_free_context(w->oc);
    av_frame_free(&w->rgb);
    free(w);
}

vssm_status vssm_video_writer_open(vssm_video_writer **out, const char *path, int width, int height,
                                   const vssm_video_writer_opts *opts, vssm_err *err) {
    *out = NULL;
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: cannot write %dx%d frames (1..16384 a side)", path, width,
                            height);
    vssm_video_ffmpeg_init();
    vssm_video_writer *w = calloc(1, sizeof *w);
    if (!w) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    w->w = width;
    w->h = height;
    vssm_status st = vssm_outfile_open(&w->of, path, err);
    if (st == VSSM_OK) st = open_muxer(w, path, opts, err);
    if (st != VSSM_OK) {
        vssm_video_writer_abort(w);
        return st;
    }
    *out = w;
    return VSSM_OK;
}

const char *vssm_video_writer_codec(const vssm_video_writer *w) { return w ? w->codec : ""; }

/* frame (or NULL: flush) into the encoder, and every packet it has ready into the muxer */
static vssm_status encode(vssm_video_writer *w, AVFrame *f, vssm_err *err) {
    int ret = avcodec_send_frame(w->enc, f);
    if (ret < 0) return werr(w, err, VSSM_ERR_IO, "the encoder refused a frame", ret);
    for (;;) {
        ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return VSSM_OK;
        if (ret < 0) return werr(w, err, VSSM_ERR_IO, "encoding failed", ret);
        if (w->pkt->duration <= 0) w->pkt->duration = 1; /* one frame: else MP4's edit list drops the last */
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        ret = av_interleaved_write_frame(w->oc, w->pkt);
        if (ret < 0) return werr(w, err, VSSM_ERR_IO, "writing failed", ret);
    }
}

vssm_status vssm_video_write(vssm_video_writer *w, const vssm_image *im, vssm_err *err) {
    if (!im || !im->data || im->c != 3 || im->w != w->w || im->h != w->h)
        return werr(w, err, VSSM_ERR_INVALID_ARG, "a frame of another size or not RGB", 0);
    for (int y = 0; y < w->eh; y++) { /* into aligned rows; the last column and row repeated to even sides */
        uint8_t *row = w->rgb->data[0] + (size_t)y * w->rgb->linesize[0];
        memcpy(row, im->data + (size_t)(y < w->h ? y : w->h - 1) * w->w * 3, (size_t)w->w * 3);
        if (w->ew > w->w) memcpy(row + (size_t)w->w * 3, row + (size_t)(w->w - 1) * 3, 3);
    }
    int ret = av_frame_make_writable(w->frm);
    if (ret < 0) return werr(w, err, VSSM_ERR_NOMEM, "out of memory", ret);
    sws_scale(w->sws, (const uint8_t *const *)w->rgb->data, w->rgb->linesize, 0, w->eh, w->frm->data, w->frm->linesize);
    w->frm->pts = w->next_pts++;
    w->frm->quality = w->enc->global_quality; /* QSCALE encoders read the quantiser per frame */
    return encode(w, w->frm, err);
}

vssm_status vssm_video_writer_close(vssm_video_writer *w, vssm_err *err) {
    if (!w) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "video writer: NULL");
    vssm_status st = encode(w, NULL, err);
    int ret;
    if (st == VSSM_OK && (ret = av_write_trailer(w->oc)) < 0)
        st = werr(w, err, VSSM_ERR_IO, "cannot finish the file", ret);
    if (st == VSSM_OK) {
        avio_flush(w->io);
        if (w->io->error < 0) st = werr(w, err, VSSM_ERR_IO, "writing failed", w->io->error);
    }
    if (st != VSSM_OK) {
        vssm_video_writer_abort(w);
        return st;
    }
    st = vssm_outfile_commit(&w->of, err);
    writer_free(w);
    return st;
}

void vssm_video_writer_abort(vssm_video_writer *w) {
    if (!w) return;
    vssm_outfile_abort(&w->of);
    writer_free(w);
}

#endif
