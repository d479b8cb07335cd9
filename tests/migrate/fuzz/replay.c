/* Runs the fuzz entry point over files named on the command line (the seed
 * corpus), so that every build exercises the harness without libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        size_t n;
        if (f == NULL) { fprintf(stderr, "replay: cannot open %s\n", argv[i]); return 1; }
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        /* every prefix of a seed, too: truncations at every point */
        for (size_t k = 0; k < n; k += 1 + n / 64) LLVMFuzzerTestOneInput(buf, k);
    }
    printf("replayed %d inputs\n", argc - 1);
    return argc > 1 ? 0 : 1;
}
