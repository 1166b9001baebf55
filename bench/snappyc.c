/* snappyc.c: the snappy floor for the logship benchmark: raw-block-compress a file in 1 MiB batches, as Loki pushes. */
/*
 * Usage: snappyc FILE   prints "<in bytes> <out bytes>" on stdout.
 * The benchmark measures this process's CPU time as the cost of snappy alone.
 */
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>

#define CHUNK (1u << 20)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: snappyc FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    size_t outcap = snappy_max_compressed_length(CHUNK);
    char *in = malloc(CHUNK), *out = malloc(outcap);
    unsigned long long tin = 0, tout = 0;
    int rc = 1;
    if (!f || !in || !out) {
        perror("snappyc");
        goto out;
    }
    size_t n;
    while ((n = fread(in, 1, CHUNK, f)) > 0) {
        size_t olen = outcap;
        if (snappy_compress(in, n, out, &olen) != SNAPPY_OK) {
            fprintf(stderr, "snappyc: compress failed\n");
            goto out;
        }
        tin += n;
        tout += olen;
    }
    if (ferror(f)) {
        perror("snappyc: read");
        goto out;
    }
    printf("%llu %llu\n", tin, tout);
    rc = 0;
out:
    if (f)
        fclose(f);
    free(in);
    free(out);
    return rc;
}
