/*
 * tests/unit/testlib.h - the smallest table-friendly test helper.
 *
 * Each check counts one test; a failure prints the case's name and
 * "got X, want Y".  test_done() prints "N passed, N failed" (the runner
 * reads that line) and returns the exit status.
 */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

static inline void
t_result(int ok, const char *file, int line, const char *name,
    const char *got, const char *want)
{
	if (ok) {
		t_passed++;
		return;
	}
	t_failed++;
	if (got || want)
		printf("FAIL %s:%d: %s: got %s, want %s\n", file, line, name,
		    got ? got : "(null)", want ? want : "(null)");
	else
		printf("FAIL %s:%d: %s\n", file, line, name);
}

#define CHECK(cond, name) \
	t_result(!!(cond), __FILE__, __LINE__, (name), NULL, NULL)
#define CHECK_STR(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	t_result(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __FILE__, \
	    __LINE__, (name), g_, w_); \
} while (0)
#define CHECK_INT(got, want, name) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	char gb_[32], wb_[32]; \
	snprintf(gb_, sizeof(gb_), "%lld", g_); \
	snprintf(wb_, sizeof(wb_), "%lld", w_); \
	t_result(g_ == w_, __FILE__, __LINE__, (name), gb_, wb_); \
} while (0)

static inline int
test_done(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
