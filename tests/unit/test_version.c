/* SPDX-License-Identifier: MIT */
/*
 * test_version.c - the library's version (rf_version) and the header's RF_VERSION_* macros
 * agree with each other and with VERSION in the Makefile, which the build passes in as
 * RF_TEST_MAKEFILE_VERSION.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <ringfuse.h>

#ifndef RF_TEST_MAKEFILE_VERSION
#error "the Makefile passes -DRF_TEST_MAKEFILE_VERSION=\"$(VERSION)\" to the unit tests"
#endif

Test(version, library_string_is_the_headers_and_the_makefiles, .timeout = 10)
{
	const char *v = rf_version();

	cr_assert_not_null(v);
	cr_assert_str_eq(v, RF_VERSION_STRING);
	cr_assert_str_eq(v, RF_TEST_MAKEFILE_VERSION);
	/* A static string: the same pointer every call, nothing for the caller to free. */
	cr_assert_eq(rf_version(), v);
}

Test(version, macros_spell_the_same_version, .timeout = 10)
{
	char s[32];

	snprintf(s, sizeof(s), "%d.%d.%d", RF_VERSION_MAJOR, RF_VERSION_MINOR, RF_VERSION_PATCH);
	cr_assert_str_eq(s, RF_VERSION_STRING);
	cr_assert_eq(RF_VERSION,
		     (RF_VERSION_MAJOR << 16) | (RF_VERSION_MINOR << 8) | RF_VERSION_PATCH,
		     "RF_VERSION 0x%06x", RF_VERSION);
#if RF_VERSION < 0x000100
	cr_assert_fail("RF_VERSION is not usable in #if");
#endif
}
