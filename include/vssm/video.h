/* vssm/video.h - video files and cameras in and out, through FFmpeg's libraries
 * (datasets/video.c reads, datasets/video_write.c writes and draws text; Debian
 * libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev).
 *
 * Reading: any container and codec this FFmpeg reads (AVI, MP4, MKV, WebM, MOV, ... with
 * H.264, HEVC, VP9, MPEG-4, MJPEG, ...), and V4L2 cameras: a path starting with /dev/video
 * is opened with FFmpeg's video4linux2 input. A pull API: each vssm_video_read hands back
 * the next frame in presentation order as 8-bit RGB (HWC, c == 3, the same layout as
 * vssm/image.h), its 0-based index and its presentation time in seconds from the stream's
 * first frame (the decoder's best-effort timestamp in the stream's time base; a frame
 * without one gets the previous time plus one frame duration). Conversion to RGB is
 * swscale's with the ffmpeg command's default flags (bicubic) and the frame's own
 * colour matrix and range, so a frame equals what `ffmpeg -i FILE %d.png` writes.
 *
 *     vssm_video_reader *r; vssm_err err = {0};
 *     if (vssm_video_open(&r, "walk.mp4", NULL, &err) != VSSM_OK) { ...err.msg... }
 *     vssm_video_frame f = {0};
 *     int got;
 *     while (vssm_video_read(r, &f, &got, &err) == VSSM_OK && got) { ...f.image, f.index, f.time_s... }
 *     // on an error, err names the file and the frame
 *     vssm_image_free(&f.image);
 *     vssm_video_close(r);
 *
 * Errors are values naming the file: a file that is missing, not a video, has no video
 * stream, or whose codec this FFmpeg cannot decode fails at open; a frame over the pixel
 * limit (checked before it is converted), a file that ends before the frame count its
 * container promises ("truncated"), and a decoder that refuses 64 packets in a row without
 * a frame fail at the read that meets them, naming the frame. A reader that failed keeps
 * failing. Damage the decoder survives is not an error: the frame comes back with its
 * damage bits set (a packet the decoder refuses, errors it conceals, frames predicted from
 * a damaged one; vssm_video_frame.damage), so one bad packet in an hour of video costs
 * the frames it touches, not the rest.
 *
 * Writing: vssm_video_writer encodes RGB frames to a file whose container is chosen by
 * its extension (.mp4 .mkv .avi .mov .webm ...). Codec: H.264 (libx264, CRF 23) when
 * this FFmpeg has the encoder and the container takes it, else MPEG-4 part 2, else MJPEG;
 * or the one named in the options ("png" and "ffv1" are lossless: decoded frames equal
 * the written ones byte for byte). Odd sizes are padded to even for 4:2:0 codecs by
 * repeating the last column / row. The file is written under a unique temporary name
 * beside the target and renamed onto it only when complete (vssm/outfile.h).
 *
 * FFmpeg logs to stderr by default; the library never prints, so the first open lowers
 * FFmpeg's log level to quiet when it is still at FFmpeg's default (AV_LOG_INFO). A
 * program that sets its own level (av_log_set_level) keeps it.
 *
 * A build without FFmpeg (cmake -DVSSM_VIDEO=OFF, or the libraries absent) keeps these
 * functions: open returns VSSM_ERR_UNSUPPORTED ("built without video support") and
 * vssm_video_available() says 0. vssm_image_draw_text works in every build.
 * A reader or writer is used by one thread at a time; no global state of our own.
 */
#ifndef VSSM_VIDEO_H
#define VSSM_VIDEO_H

#include <stdint.h>
#include "vssm/common.h"
#include "vssm/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this build reads and writes video (FFmpeg), 0 otherwise. */
VSSM_API int vssm_video_available(void);

/* ---------------------------------------------------------------- reading */

typedef struct vssm_video_reader vssm_video_reader;

typedef struct vssm_video_opts {
    vssm_image_limits limits; /* frames over max_pixels are refused (0: the image default) */
    int threads;              /* decoder threads; 0: 1 (the caller's threads run the network) */
    const char *format;       /* input format / device ("v4l2", "mjpeg", ...); NULL: probe the content */
} vssm_video_opts;

typedef struct vssm_video_info {
    int width, height;    /* of the first frame, as the stream declares it */
    int fps_num, fps_den; /* average frame rate (0/1 when unknown) */
    int64_t n_frames;     /* the container's frame count; -1 when it does not say */
    double duration_s;    /* the container's duration; -1 when unknown */
    int live;             /* a capture device: no count, no end */
    char codec[32];       /* decoder name, e.g. "h264", "msmpeg4v3" */
    char container[32];   /* demuxer name, e.g. "avi", "mov,mp4,m4a,3gp,3g2,mj2", "video4linux2,v4l2" */
} vssm_video_info;

/* vssm_video_frame.damage: what the decoder and the demuxer said about a frame (0: clean).
 * The frame is still handed back (the decoder's best picture); the caller decides. */
enum {
    VSSM_VIDEO_DAMAGE_CONCEALED = 1, /* errors in its own data, concealed by the decoder (FFmpeg decode_error_flags
                                        or AV_FRAME_FLAG_CORRUPT; bitstream checks are on) */
    VSSM_VIDEO_DAMAGE_DATA = 2,      /* since the previous frame the decoder refused data or the demuxer marked a
                                        packet corrupt: frames may be missing before it */
    VSSM_VIDEO_DAMAGE_REFERENCE = 4, /* predicted from a damaged frame: no key frame since the damage */
};

typedef struct vssm_video_frame {
    vssm_image image; /* RGB; reused by the next read when the size is unchanged */
    int64_t index;    /* 0-based, presentation order */
    double time_s;    /* presentation time from the first frame, seconds */
    unsigned damage;  /* VSSM_VIDEO_DAMAGE_* bits, 0 for a clean frame */
} vssm_video_frame;

/* opts may be NULL. On failure *out is NULL and err names path. */
VSSM_API vssm_status vssm_video_open(vssm_video_reader **out, const char *path, const vssm_video_opts *opts,
                                     vssm_err *err);
VSSM_API const vssm_video_info *vssm_video_get_info(const vssm_video_reader *r);
/* The next frame into *frame (*got = 1), or the end of the stream (*got = 0, VSSM_OK).
 * frame->image must be empty ({0}) or an image a previous read filled. */
VSSM_API vssm_status vssm_video_read(vssm_video_reader *r, vssm_video_frame *frame, int *got, vssm_err *err);
/* Safe on NULL. */
VSSM_API void vssm_video_close(vssm_video_reader *r);

/* ---------------------------------------------------------------- writing */

typedef struct vssm_video_writer vssm_video_writer;

typedef struct vssm_video_writer_opts {
    int fps_num, fps_den; /* frame rate (0: 25/1) */
    const char *codec;    /* NULL: H.264, else MPEG-4 part 2, else MJPEG; or an encoder name */
    int threads;          /* encoder threads; 0: 1 */
} vssm_video_writer_opts;

/* Whether a writer to path could be opened, without touching the file system: the
 * container is known from path's extension and this FFmpeg has an encoder for it (opts'
 * codec, or H.264 / MPEG-4 part 2 / MJPEG). VSSM_ERR_INVALID_ARG (unknown extension) or
 * VSSM_ERR_UNSUPPORTED (no encoder, or no video support) naming path. opts may be NULL. */
VSSM_API vssm_status vssm_video_writer_check(const char *path, const vssm_video_writer_opts *opts, vssm_err *err);
/* A width x height writer (both >= 1) to path; opts may be NULL. */
VSSM_API vssm_status vssm_video_writer_open(vssm_video_writer **out, const char *path, int width, int height,
                                            const vssm_video_writer_opts *opts, vssm_err *err);
/* The encoder in use, e.g. "libx264", "mpeg4", "mjpeg". */
VSSM_API const char *vssm_video_writer_codec(const vssm_video_writer *w);
/* Appends one RGB frame of the writer's size. */
VSSM_API vssm_status vssm_video_write(vssm_video_writer *w, const vssm_image *frame, vssm_err *err);
/* Flushes the encoder, writes the trailer and renames the file onto its path; always frees w.
 * On failure the target is untouched. */
VSSM_API vssm_status vssm_video_writer_close(vssm_video_writer *w, vssm_err *err);
/* Frees w and removes its temporary file; the target is untouched. Safe on NULL. */
VSSM_API void vssm_video_writer_abort(vssm_video_writer *w);

/* ---------------------------------------------------------------- annotation */

/* Draws text (printable ASCII; others as '?') into an RGB image with a built-in 6x11 pixel
 * font (Pillow's default bitmap font), each font pixel scale x scale image pixels, the top-left corner at (x, y), on a
 * dark backing box so it reads over any frame; clipped to the image. */
VSSM_API void vssm_image_draw_text(vssm_image *im, int x, int y, const char *text, const uint8_t rgb[3], int scale);

#ifdef __cplusplus
}
#endif
#endif
