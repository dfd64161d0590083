/* vssm/outfile.h - output files that are never seen half-written.
 *
 * Every file vssm writes (converted weights, masks, plots, CSV/JSON reports, features)
 * goes through this: the bytes go to a temp file with a unique name in the target's own
 * folder (mkstemp, "PATH.XXXXXX"), and only a complete, flushed file is renamed over
 * PATH (synced to disk first). Two writers of one output never share a temp file (the last rename wins, each
 * writer sees its own result), and a killed process leaves PATH as it was: either the
 * old file or the whole new one. The temp file gets the mode a plain fopen would give
 * (0666 less the umask), not mkstemp's 0600. A target that exists and is not a regular
 * file (/dev/null, /dev/stdout, a FIFO) is written in place, never replaced; a folder is
 * an error.
 *
 *     vssm_outfile o;
 *     if (vssm_outfile_open(&o, path, &err) != VSSM_OK) return err.status;
 *     fprintf(o.f, "...");                      // or png_init_io(png, o.f), fwrite, ...
 *     return vssm_outfile_commit(&o, &err);     // or vssm_outfile_abort(&o) on failure
 */
#ifndef VSSM_OUTFILE_H
#define VSSM_OUTFILE_H

#include <stdio.h>
#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_outfile {
    FILE *f;    /* write here (binary mode) */
    char *tmp;  /* the temp file's path (owned); NULL when writing in place */
    char *path; /* the final path (owned copy) */
} vssm_outfile;

/* Creates the temp file beside path. On failure o is zeroed and err names path. */
VSSM_API vssm_status vssm_outfile_open(vssm_outfile *o, const char *path, vssm_err *err);
/* Flushes, checks every write succeeded, syncs the temp file to disk (fsync: after a power
 * cut PATH is the old file or the whole new one), closes and renames it onto path.
 * On any failure the temp file is removed and err names path. Always releases o. */
VSSM_API vssm_status vssm_outfile_commit(vssm_outfile *o, vssm_err *err);
/* Closes and removes the temp file; path is untouched. Safe on a zeroed or released o. */
VSSM_API void vssm_outfile_abort(vssm_outfile *o);

#ifdef __cplusplus
}
#endif
#endif
