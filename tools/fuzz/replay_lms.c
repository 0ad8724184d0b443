// Replays saved inputs of the LMS fuzz target without libFuzzer (plain
// gcc/clang + ASan/UBSan): tools/fuzz/replay_lms FILE...
// Prints "<file> <result>" per input (the verify result code) and a closing
// "replay: N files"; a crash, a sanitizer report or a failed check of
// fuzz_lms.c ends the process with a non-zero status.
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_lms.h"

#define MAX_INPUT (1u << 20)  // libFuzzer runs use -max_len far below this

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        uint8_t *buf = malloc(MAX_INPUT);
        if (buf == NULL) {
            fclose(f);
            return 2;
        }
        size_t len = fread(buf, 1, MAX_INPUT, f);
        int more = fgetc(f) != EOF;
        fclose(f);
        if (more) {
            fprintf(stderr, "replay: %s is over %u bytes\n", argv[i], MAX_INPUT);
            free(buf);
            return 2;
        }
        // exact-size copy, so a read past the input is caught as in the fuzzer
        uint8_t *in = malloc(len ? len : 1);
        if (in == NULL) {
            free(buf);
            return 2;
        }
        for (size_t k = 0; k < len; k++) {
            in[k] = buf[k];
        }
        free(buf);
        int r = fuzz_lms_run(in, len);
        free(in);
        printf("%s %d\n", argv[i], r);
        n++;
    }
    printf("replay: %d files\n", n);
    return 0;
}
