/* Times compiled peers with no Python in the loop, for docs/performance.md:
 *   native_bench tl2cgen LIB.so ROWS.f64 N_ROWS N_FEATURES SECONDS [batch64|single]
 *   native_bench lleaves LIB.so ROWS.f64 N_ROWS N_FEATURES SECONDS [batch64|single]
 * ROWS.f64 holds row-major doubles (NaN = missing). Prints ns_per_row_batch64=... and
 * ns_per_row_single=... (median over rounds; only the named one when a mode is given). TL2cgen's predict() scores one row per call, so its
 * two numbers differ only by loop overhead; lleaves' forest_root() takes a row range. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

union EntryF { int missing; float fvalue; int qvalue; };
union EntryD { int missing; double fvalue; int qvalue; };
typedef void (*predict_f)(union EntryF *, int, float *);
typedef void (*predict_d)(union EntryD *, int, double *);
typedef void (*forest_f)(double *, double *, int, int);

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s tl2cgen|lleaves LIB ROWS N_ROWS N_FEATURES SECONDS [batch64|single]\n", argv[0]);
        return 2;
    }
    int first = argc == 8 && strcmp(argv[7], "single") == 0 ? 1 : 0;
    int last = argc == 8 && strcmp(argv[7], "batch64") == 0 ? 0 : 1;
    const char *kind = argv[1];
    int n = atoi(argv[4]), f = atoi(argv[5]);
    double seconds = atof(argv[6]);
    double *rows = malloc(sizeof(double) * n * f);
    FILE *file = fopen(argv[3], "rb");
    if (!file || fread(rows, sizeof(double), (size_t)n * f, file) != (size_t)n * f) { fprintf(stderr, "cannot read rows\n"); return 1; }
    fclose(file);
    void *lib = dlopen(argv[2], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    volatile double sink = 0;
    double samples[2][4096];
    int counts[2] = {0, 0};
    for (int mode = first; mode <= last; mode++) {   /* 0: 64-row batches, 1: single rows */
        int batch = mode == 0 ? 64 : 1;
        double deadline = now_ns() + seconds * 1e9;
        for (int round = 0; round < 4096 && (now_ns() < deadline || round < 5); round++) {
            double start = now_ns();
            if (strcmp(kind, "tl2cgen") == 0) {
                const char *(*type)(void) = (const char *(*)(void))dlsym(lib, "get_threshold_type");
                int is_double = strcmp(type(), "float64") == 0;
                if (is_double) {
                    predict_d predict = (predict_d)dlsym(lib, "predict");
                    union EntryD entry[f];
                    double out[8];
                    for (int r = 0; r < n; r++) {
                        for (int j = 0; j < f; j++) {
                            double x = rows[r * f + j];
                            if (isnan(x)) entry[j].missing = -1; else entry[j].fvalue = x;
                        }
                        predict(entry, 0, out);
                        sink += out[0];
                    }
                } else {
                    predict_f predict = (predict_f)dlsym(lib, "predict");
                    union EntryF entry[f];
                    float out[8];
                    for (int r = 0; r < n; r++) {
                        for (int j = 0; j < f; j++) {
                            double x = rows[r * f + j];
                            if (isnan(x)) entry[j].missing = -1; else entry[j].fvalue = (float)x;
                        }
                        predict(entry, 0, out);
                        sink += out[0];
                    }
                }
            } else {
                forest_f forest = (forest_f)dlsym(lib, "forest_root");
                static double *out;
                if (!out) out = malloc(sizeof(double) * n);   /* forest_root writes out[start..<end] */
                for (int r = 0; r < n; r += batch) {
                    int end = r + batch < n ? r + batch : n;
                    forest(rows, out, r, end);   /* raw margins; the sigmoid is added below */
                    for (int k = r; k < end; k++) sink += 1.0 / (1.0 + exp(-out[k]));
                }
            }
            samples[mode][counts[mode]++] = (now_ns() - start) / n;
        }
        qsort(samples[mode], counts[mode], sizeof(double), cmp);
    }
    printf("sink=%g\n", sink);
    if (first == 0) printf("ns_per_row_batch64=%.1f\n", samples[0][counts[0] / 2]);
    if (last == 1) printf("ns_per_row_single=%.1f\n", samples[1][counts[1] / 2]);
    return 0;
}
