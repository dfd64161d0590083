/* vssm/vssm.h - everything: include this one header to use the library. */
#ifndef VSSM_VSSM_H
#define VSSM_VSSM_H
#include "vssm/common.h"
#include "vssm/version.h"
#include "vssm/ctx.h"
#include "vssm/source.h"
#include "vssm/vmamba.h"
#include "vssm/vim.h"
#include "vssm/backbone.h"
#include "vssm/heads.h"
#include "vssm/weights.h"
#include "vssm/outfile.h"
#endif
