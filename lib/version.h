/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The version of this build, shared by sluiced and sluice: `git describe` of
 * the checkout it was built from, or the VERSION file of a source tree
 * without .git (a tarball, the .deb's build). The Makefile writes it into
 * BUILD/version.h; only lib/version.c reads that, so a new commit rebuilds
 * one object.
 */
#ifndef SLUICE_VERSION_H
#define SLUICE_VERSION_H

extern const char sluice_version[];

#endif /* SLUICE_VERSION_H */
