// SPDX-License-Identifier: GPL-2.0-only
#include "version.h"
#include "build_version.h"

const char sluice_version[] = SLUICE_BUILD_VERSION;
