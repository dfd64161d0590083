/* datasets/video_internal.h - what the video reader and writer share (FFmpeg builds only). */
#ifndef VSSM_DATASETS_VIDEO_INTERNAL_H
#define VSSM_DATASETS_VIDEO_INTERNAL_H

#include <stddef.h>

/* Once per process: FFmpeg's log level to quiet (when still at its default), devices registered. */
void vssm_video_ffmpeg_init(void);
/* FFmpeg's words for an error code, into buf; returns buf. */
const char *vssm_video_averr(int code, char *buf, size_t n);

#endif
