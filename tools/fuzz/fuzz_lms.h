// The LMS fuzz target's body, shared by the libFuzzer build (fuzz_lms.c)
// and the plain replay driver (replay_lms.c).
#ifndef FUZZ_LMS_H
#define FUZZ_LMS_H

#include <stddef.h>
#include <stdint.h>

// Verifies one input (format in fuzz_lms.c); abort()s when a check fails.
// Returns the verify result, or LMS_ERR_ARG for an input shorter than the
// 6-byte header.
int fuzz_lms_run(const uint8_t *data, size_t size);

#endif
