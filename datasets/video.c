/* datasets/video.c - video files and V4L2 cameras in, as RGB frames with their index and
 * presentation time (FFmpeg: libavformat demuxes, libavcodec decodes, libswscale converts).
 * The contract is in vssm/video.h; a build without FFmpeg keeps the functions as refusals. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cnum.h"
#include "vssm/video.h"

#ifndef VSSM_HAVE_VIDEO

int vssm_video_available(void) { return 0; }

vssm_status vssm_video_open(vssm_video_reader **out, const char *path, const vssm_video_opts *opts, vssm_err *err) {
    if (out) *out = NULL;
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                        "%s: this vssm was built without video support (FFmpeg's "
                        "libraries; apt-get install libavformat-dev libavcodec-dev libswscale-dev libavdevice-dev "
                        "and rebuild)",
                        path ? path : "(null)");
}
const vssm_video_info *vssm_video_get_info(const vssm_video_reader *r) { return NULL; }
vssm_status vssm_video_read(vssm_video_reader *r, vssm_video_frame *frame, int *got, vssm_err *err) {
    if (got) *got = 0;
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "this vssm was built without video support");
}
void vssm_video_close(vssm_video_reader *r) {}
vssm_status vssm_video_writer_check(const char *path, const vssm_video_writer_opts *opts, vssm_err *err) {
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%s: this vssm was built without video support",
                        path ? path : "(null)");
}

#else

#include <pthread.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "datasets/video_internal.h"

int vssm_video_available(void) { return 1; }

static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;

/* FFmpeg prints to stderr unless told otherwise; a program that chose a level keeps it */
static void ffmpeg_setup(void) {
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_QUIET);
    avdevice_register_all();
}

void vssm_video_ffmpeg_init(void) { pthread_once(&ffmpeg_once, ffmpeg_setup); }

const char *vssm_video_averr(int code, char *buf, size_t n) {
    if (av_strerror(code, buf, n) < 0) snprintf(buf, n, "FFmpeg error %d", code);
    return buf;
}

struct vssm_video_reader {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frm;
    AVFrame *rgb; /* RGB24 with aligned rows (swscale's SIMD garbles the last columns of
                                * packed rows whose stride is not a multiple of 16), copied out */
    int stream;
    vssm_video_info info;
    int64_t max_pixels; /* < 0: none */
    int64_t next_index;
    int64_t origin; /* the first frame's timestamp (stream time base), AV_NOPTS_VALUE before it */
    double last_time, frame_dur;
    int flushing, ended;
    unsigned pending;     /* damage seen since the last frame (VSSM_VIDEO_DAMAGE_DATA), for the next one */
    int damaged_ref;      /* a damaged frame since the last key frame: the next predicted ones inherit it */
    int refused_in_a_row; /* packets the decoder refused since its last frame */
    vssm_err failed;      /* sticky: a reader that failed keeps failing */
};

#define REFUSED_MAX 64 /* packets refused in a row, no frame between: not this decoder's stream */

static vssm_status fail(vssm_video_reader *r, vssm_err *err, vssm_status st, const char *what, int code) {
    char e[AV_ERROR_MAX_STRING_SIZE];
    if (code)
        vssm_err_set(&r->failed, st, "%s: %s (%s)", r->path, what, vssm_video_averr(code, e, sizeof e));
    else
        vssm_err_set(&r->failed, st, "%s: %s", r->path, what);
    if (err) *err = r->failed;
    return st;
}

static int64_t pixel_limit(const vssm_image_limits *lim) {
    if (!lim || lim->max_pixels == 0) return VSSM_IMAGE_MAX_PIXELS_DEFAULT;
    return lim->max_pixels;
}

/* demuxer and stream facts for vssm_video_get_info */
static void fill_info(vssm_video_reader *r) {
    AVStream *st = r->fmt->streams[r->stream];
    vssm_video_info *in = &r->info;
    in->width = r->dec->width;
    in->height = r->dec->height;
    AVRational fr = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    in->fps_num = fr.num > 0 && fr.den > 0 ? fr.num : 0;
    in->fps_den = fr.num > 0 && fr.den > 0 ? fr.den : 1;
    in->live = (r->fmt->iformat->flags & AVFMT_NOFILE) != 0;
    in->n_frames = st->nb_frames > 0 && !in->live ? st->nb_frames : -1;
    in->duration_s = r->fmt->duration > 0 && !in->live ? (double)r->fmt->duration / AV_TIME_BASE : -1;
    snprintf(in->codec, sizeof in->codec, "%s", r->dec->codec->name);
    snprintf(in->container, sizeof in->container, "%s", r->fmt->iformat->name);
    r->frame_dur = in->fps_num > 0 ? (double)in->fps_den / in->fps_num : 0;
}

static vssm_status open_decoder(vssm_video_reader *r, const vssm_video_opts *o, vssm_err *err) {
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si == AVERROR_STREAM_NOT_FOUND) return fail(r, err, VSSM_ERR_FORMAT, "no video stream", 0);
    if (si < 0 || !codec) {
        const AVCodecParameters *par = si >= 0 ? r->fmt->streams[si]->codecpar : NULL;
        char what[128];
        snprintf(what, sizeof what, "no decoder for its video codec (%s) in this FFmpeg",
                 par ? avcodec_get_name(par->codec_id) : "unknown");
        return fail(r, err, VSSM_ERR_UNSUPPORTED, what, 0);
    }
    r->stream = si;
    AVCodecParameters *par = r->fmt->streams[si]->codecpar;
    if (!(r->dec = avcodec_alloc_context3(codec))) return fail(r, err, VSSM_ERR_NOMEM, "out of memory", 0);
    int ret = avcodec_parameters_to_context(r->dec, par);
    if (ret < 0) return fail(r, err, VSSM_ERR_FORMAT, "bad codec parameters", ret);
    r->dec->thread_count = o && o->threads > 0 ? o->threads : 1;
    /* the bitstream checks make decoders flag what they conceal (decode_error_flags); a clean
     * stream decodes the same (the ffmpeg command's default is crccheck alone) */
    r->dec->err_recognition |= AV_EF_CRCCHECK | AV_EF_BITSTREAM;
    if (r->max_pixels >= 0 && (int64_t)par->width * par->height > r->max_pixels) {
        char what[160];
        snprintf(what, sizeof what, "%dx%d frames exceed the pixel limit (%lld; --max-pixels)", par->width, par->height,
                 (long long)r->max_pixels);
        return fail(r, err, VSSM_ERR_FORMAT, what, 0);
    }
    if (r->max_pixels >= 0) /* a later frame larger than the first: refused by the decoder, not allocated */
        r->dec->max_pixels = r->max_pixels;
    if ((ret = avcodec_open2(r->dec, codec, NULL)) < 0) {
        /* probing under the limit (find_stream_info) leaves the size unknown when the first frames
         * are over it; some decoders (FFV1) then cannot open */
        char what[160];
        snprintf(what, sizeof what,
                 par->width < 1 && r->max_pixels >= 0
                     ? "cannot open its decoder: no frame size known (its first frames exceed the pixel limit, "
                       "%lld, --max-pixels; or are damaged)"
                     : "cannot open its decoder",
                 (long long)r->max_pixels);
        return fail(r, err, VSSM_ERR_FORMAT, what, ret);
    }
    if (!(r->pkt = av_packet_alloc()) || !(r->frm = av_frame_alloc()) || !(r->rgb = av_frame_alloc()))
        return fail(r, err, VSSM_ERR_NOMEM, "out of memory", 0);
    return VSSM_OK;
}

/* avformat_find_stream_info decodes frames to probe the streams: its decoders get the pixel
 * limit too (a 2 MB stream of 16000x16000 frames took 2.2 GB before the limit was checked) */
static int find_stream_info(vssm_video_reader *r) {
    const unsigned ns = r->fmt->nb_streams;
    AVDictionary **d = ns && r->max_pixels >= 0 ? calloc(ns, sizeof *d) : NULL;
    if (d) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)r->max_pixels);
        for (unsigned i = 0; i < ns; i++) av_dict_set(&d[i], "max_pixels", v, 0);
    }
    const int ret = avformat_find_stream_info(r->fmt, d);
    for (unsigned i = 0; d && i < ns; i++) av_dict_free(&d[i]);
    free(d);
    return ret;
}

vssm_status vssm_video_open(vssm_video_reader **out, const char *path, const vssm_video_opts *opts, vssm_err *err) {
    *out = NULL;
    if (!path || !*path) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "video: empty path");
    vssm_video_ffmpeg_init();
    vssm_video_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    }
    r->max_pixels = pixel_limit(opts ? &opts->limits : NULL);
    r->origin = AV_NOPTS_VALUE;
    const char *fname = opts && opts->format                   ? opts->format
                        : strncmp(path, "/dev/video", 10) == 0 ? "video4linux2"
                                                               : NULL;
    const AVInputFormat *ifmt = fname ? av_find_input_format(fname) : NULL;
    vssm_status st = VSSM_OK;
    int ret;
    if (fname && !ifmt) {
        char what[96];
        snprintf(what, sizeof what, "this FFmpeg has no input format '%s'", fname);
        st = fail(r, err, VSSM_ERR_UNSUPPORTED, what, 0);
    } else if ((ret = avformat_open_input(&r->fmt, path, ifmt, NULL)) < 0) {
        st = fail(r, err,
                  ret == AVERROR(ENOENT) || ret == AVERROR(EACCES) || ret == AVERROR(EIO) ? VSSM_ERR_IO
                                                                                          : VSSM_ERR_FORMAT,
                  ifmt ? "cannot open the device" : "cannot open as a video", ret);
    } else if ((ret = find_stream_info(r)) < 0) {
        st = fail(r, err, VSSM_ERR_FORMAT, "cannot read its streams", ret);
    } else {
        st = open_decoder(r, opts, err);
    }
    if (st != VSSM_OK) {
        vssm_video_close(r);
        return st;
    }
    fill_info(r);
    *out = r;
    return VSSM_OK;
}

const vssm_video_info *vssm_video_get_info(const vssm_video_reader *r) { return r ? &r->info : NULL; }

/* r->frm into frame->image as RGB24 with the frame's colour matrix and range */
static vssm_status convert(vssm_video_reader *r, vssm_video_frame *f, vssm_err *err) {
    AVFrame *x = r->frm;
    char what[160];
    if (x->width < 1 || x->height < 1) return fail(r, err, VSSM_ERR_FORMAT, "the decoder gave an empty frame", 0);
    if (r->max_pixels >= 0 && (int64_t)x->width * x->height > r->max_pixels) {
        snprintf(what, sizeof what, "frame %lld: %dx%d exceeds the pixel limit (%lld; --max-pixels)",
                 (long long)r->next_index, x->width, x->height, (long long)r->max_pixels);
        return fail(r, err, VSSM_ERR_FORMAT, what, 0);
    }
    r->sws = sws_getCachedContext(r->sws, x->width, x->height, (enum AVPixelFormat)x->format, x->width, x->height,
                                  AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!r->sws) {
        snprintf(what, sizeof what, "frame %lld: cannot convert pixel format %s to RGB", (long long)r->next_index,
                 av_get_pix_fmt_name((enum AVPixelFormat)x->format));
        return fail(r, err, VSSM_ERR_UNSUPPORTED, what, 0);
    }
    int *inv, *tab, src_range, dst_range, bri, con, sat;
    if (sws_getColorspaceDetails(r->sws, &inv, &src_range, &tab, &dst_range, &bri, &con, &sat) >= 0) {
        int cs = x->colorspace != AVCOL_SPC_UNSPECIFIED ? (int)x->colorspace : SWS_CS_DEFAULT;
        if (x->color_range != AVCOL_RANGE_UNSPECIFIED) src_range = x->color_range == AVCOL_RANGE_JPEG;
        sws_setColorspaceDetails(r->sws, sws_getCoefficients(cs), src_range, tab, dst_range, bri, con, sat);
    }
    vssm_image *im = &f->image;
    if (!im->data || im->w != x->width || im->h != x->height || im->c != 3) {
        vssm_image_free(im);
        if (vssm_image_alloc(im, x->width, x->height, 3, err) != VSSM_OK)
            return fail(r, err, VSSM_ERR_NOMEM, "out of memory for a frame", 0);
    }
    if (r->rgb->width != x->width || r->rgb->height != x->height) {
        av_frame_unref(r->rgb);
        r->rgb->format = AV_PIX_FMT_RGB24;
        r->rgb->width = x->width;
        r->rgb->height = x->height;
        if (av_frame_get_buffer(r->rgb, 0) < 0) return fail(r, err, VSSM_ERR_NOMEM, "out of memory for a frame", 0);
    }
    if (sws_scale(r->sws, (const uint8_t *const *)x->data, x->linesize, 0, x->height, r->rgb->data, r->rgb->linesize) !=
        x->height) {
        snprintf(what, sizeof what, "frame %lld: the RGB conversion failed", (long long)r->next_index);
        return fail(r, err, VSSM_ERR_FORMAT, what, 0);
    }
    for (int y = 0; y < im->h; y++)
        memcpy(im->data + (size_t)y * im->w * 3, r->rgb->data[0] + (size_t)y * r->rgb->linesize[0], (size_t)im->w * 3);
    int64_t ts = x->best_effort_timestamp;
    double t;
    if (ts == AV_NOPTS_VALUE)
        t = r->next_index ? r->last_time + r->frame_dur : 0;
    else {
        if (r->origin == AV_NOPTS_VALUE) r->origin = ts;
        t = (double)(ts - r->origin) * av_q2d(r->fmt->streams[r->stream]->time_base);
    }
    f->index = r->next_index++;
    f->time_s = r->last_time = t;
    /* damage: its own (concealed), the data lost before it, or inherited from its reference */
#ifdef AV_FRAME_FLAG_KEY
    const int key = (x->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    const int key = x->key_frame;
#endif
    unsigned d = r->pending;
    if (x->decode_error_flags || (x->flags & AV_FRAME_FLAG_CORRUPT)) d |= VSSM_VIDEO_DAMAGE_CONCEALED;
    if (!key && r->damaged_ref) d |= VSSM_VIDEO_DAMAGE_REFERENCE;
    r->damaged_ref = d != 0 || (!key && r->damaged_ref);
    r->pending = 0;
    f->damage = d;
    return VSSM_OK;
}

/* the video stream's own duration in seconds, -1 when unknown: the stream's field, else its
 * DURATION tag (Matroska/WebM writers put it there), else the container's when the video is
 * its only stream (with audio the container may last longer than the video) */
static double stream_duration(const vssm_video_reader *r) {
    const AVStream *st = r->fmt->streams[r->stream];
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE) return (double)st->duration * av_q2d(st->time_base);
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "DURATION", NULL, 0);
    if (e) { /* HH:MM:SS.sss; strtod, not sscanf's %d, whose overflow is undefined */
        char *p, *q, *t;
        const double h = vssm_strtod_c(e->value, &p), m = *p == ':' ? vssm_strtod_c(p + 1, &q) : -1,
                     s = m >= 0 && *q == ':' ? vssm_strtod_c(q + 1, &t) : -1;
        if (s >= 0 && h >= 0 && isfinite(h) && isfinite(m) && isfinite(s)) return h * 3600.0 + m * 60 + s;
    }
    return r->fmt->nb_streams == 1 ? r->info.duration_s : -1;
}

/* the end of the data: a container that promised more frames (or, without a frame count, a
 * longer duration: more than two frames' worth) was cut short */
static vssm_status at_end(vssm_video_reader *r, int *got, vssm_err *err) {
    r->ended = 1;
    char what[192];
    if (r->info.n_frames > 0 && r->next_index < r->info.n_frames) {
        snprintf(what, sizeof what, "truncated: the container promises %lld frames, the data ends after %lld",
                 (long long)r->info.n_frames, (long long)r->next_index);
        return fail(r, err, VSSM_ERR_FORMAT, what, 0);
    }
    double dur = r->info.n_frames > 0 || r->info.live || r->frame_dur <= 0 ? -1 : stream_duration(r);
    double end = r->next_index ? r->last_time + r->frame_dur : 0;
    if (dur > 0 && end < dur - 2 * r->frame_dur) {
        snprintf(what, sizeof what, "truncated: the container says %.3f s, the data ends after %lld frames (%.3f s)",
                 dur, (long long)r->next_index, end);
        return fail(r, err, VSSM_ERR_FORMAT, what, 0);
    }
    return VSSM_OK;
}

/* the decoder refused data (ret): 1 when the stream goes on (the next frame carries the
 * damage), 0 when it cannot (out of memory, or REFUSED_MAX packets in a row) */
static int refused(vssm_video_reader *r, int ret) {
    if (ret == AVERROR(ENOMEM) || ret == AVERROR_EOF || ++r->refused_in_a_row > REFUSED_MAX) return 0;
    r->pending |= VSSM_VIDEO_DAMAGE_DATA;
    return 1;
}

static const char *refused_what(const vssm_video_reader *r, char *what) { /* what holds 96 */
    if (r->refused_in_a_row > REFUSED_MAX)
        snprintf(what, 96, "frame %lld: the decoder refused %d packets in a row", (long long)r->next_index,
                 r->refused_in_a_row);
    else
        snprintf(what, 96, "frame %lld: the decoder refused the data", (long long)r->next_index);
    return what;
}

vssm_status vssm_video_read(vssm_video_reader *r, vssm_video_frame *frame, int *got, vssm_err *err) {
    *got = 0;
    if (r->failed.status != VSSM_OK) {
        if (err) *err = r->failed;
        return r->failed.status;
    }
    if (r->ended) return VSSM_OK;
    char what[96];
    for (;;) {
        int ret = avcodec_receive_frame(r->dec, r->frm);
        if (ret == 0) {
            r->refused_in_a_row = 0;
            vssm_status st = convert(r, frame, err);
            av_frame_unref(r->frm);
            *got = st == VSSM_OK;
            return st;
        }
        if (ret == AVERROR_EOF) return at_end(r, got, err);
        if (ret != AVERROR(EAGAIN) && !refused(r, ret))
            return fail(r, err, VSSM_ERR_FORMAT, refused_what(r, what), ret);
        if (ret != AVERROR(EAGAIN)) continue;        /* a frame it could not finish: the next may come */
        if (r->flushing) return at_end(r, got, err); /* EAGAIN while draining: nothing more comes */
        refused_what(r, what);
        ret = av_read_frame(r->fmt, r->pkt);
        if (ret == AVERROR(EAGAIN)) continue; /* a non-blocking device with nothing yet */
        if (ret == AVERROR_EOF) {
            r->flushing = 1;
            ret = avcodec_send_packet(r->dec, NULL);
            if (ret < 0 && ret != AVERROR_EOF) return fail(r, err, VSSM_ERR_FORMAT, what, ret);
            continue;
        }
        if (ret < 0) {
            snprintf(what, sizeof what, "reading after frame %lld failed", (long long)r->next_index);
            return fail(r, err, r->info.live ? VSSM_ERR_IO : VSSM_ERR_FORMAT, what, ret);
        }
        if (r->pkt->stream_index == r->stream) {
            if (r->pkt->flags & AV_PKT_FLAG_CORRUPT) r->pending |= VSSM_VIDEO_DAMAGE_DATA;
            ret = avcodec_send_packet(r->dec, r->pkt);
        }
        av_packet_unref(r->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN) && !refused(r, ret))
            return fail(r, err, VSSM_ERR_FORMAT, refused_what(r, what), ret);
    }
}

vssm_status vssm_video_writer_check(const char *path, const vssm_video_writer_opts *opts, vssm_err *err) {
    static const char *const order[] = {"libx264", "mpeg4", "mjpeg"}; /* as the writer picks */
    if (!path || !*path) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "video writer: empty path");
    vssm_video_ffmpeg_init();
    const AVOutputFormat *of = av_guess_format(NULL, path, NULL);
    if (!of)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "%s: cannot tell the container from the name (use .mp4, .mkv, .avi, ...)", path);
    const char *want = opts ? opts->codec : NULL;
    for (int k = 0; k < (want ? 1 : 3); k++) {
        const AVCodec *c = avcodec_find_encoder_by_name(want ? want : order[k]);
        if (c && c->type == AVMEDIA_TYPE_VIDEO && avformat_query_codec(of, c->id, FF_COMPLIANCE_NORMAL) != 0)
            return VSSM_OK;
    }
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%s: no %s encoder in this FFmpeg for a %s file", path,
                        want ? want : "H.264, MPEG-4 or MJPEG", of->name);
}

void vssm_video_close(vssm_video_reader *r) {
    if (!r) return;
    sws_freeContext(r->sws);
    av_frame_free(&r->frm);
    av_frame_free(&r->rgb);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    free(r->path);
    free(r);
}

#endif
