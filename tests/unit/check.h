/* A minimal test harness: CHECK counts and reports, main prints the totals
 * in the form CI reads ("N passed, N failed"). */
#ifndef VMS_TEST_CHECK_H
#define VMS_TEST_CHECK_H

#include <stdio.h>

static int checks_passed, checks_failed;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (cond) {                                                                      \
			checks_passed++;                                                         \
		} else {                                                                         \
			checks_failed++;                                                         \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
	return checks_failed ? 1 : 0;
}

#endif
