//go:build cgo

package cli

/*
#include <stdlib.h>
#include <string.h>

extern char **environ;

static char gomemlimit[128];
static int gomemlimit_set;

// The Go runtime reads GOMEMLIMIT while it starts, before any Go code runs,
// and dies with a stack trace on a malformed value. This constructor runs
// before the runtime (the C library calls it first), keeps the value for
// Gatehouse to check and apply, and hides it from the runtime by renaming
// the variable in place to _OMEMLIMIT (the runtime reads the same array).
__attribute__((constructor)) static void gatehouse_stash_gomemlimit(void) {
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "GOMEMLIMIT=", 11) == 0) {
			strncpy(gomemlimit, *e + 11, sizeof gomemlimit - 1);
			gomemlimit_set = 1;
			(*e)[0] = '_';
		}
	}
}

static const char *gatehouse_gomemlimit(void) { return gomemlimit_set ? gomemlimit : NULL; }
*/
import "C"

import "os"

// processGetenv is os.Getenv, except that GOMEMLIMIT is the value the
// program was started with, which the runtime never saw (see above).
func processGetenv(k string) string {
	if k == "GOMEMLIMIT" {
		if p := C.gatehouse_gomemlimit(); p != nil {
			return C.GoString(p)
		}
	}
	return os.Getenv(k)
}
