/* SPDX-License-Identifier: MIT */
/*
 * version.c - the library's own version, fixed when the library is built, so a program
 * can tell it apart from the header (RF_VERSION_STRING) it was compiled with.
 */
#include "ringfuse.h"

const char *rf_version(void)
{
	return RF_VERSION_STRING;
}
