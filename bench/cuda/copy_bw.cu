// bench/cuda/copy_bw.cu - host<->device and device<->device copy bandwidth, pageable and
// pinned, the copies the CUDA backend does (upload of weights and images, download of
// logits/features, device copies of taps). Standalone: nvcc -O2 -o copy_bw copy_bw.cu
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CK(x)                                              \
    do {                                                   \
        cudaError_t e = (x);                               \
        if (e != cudaSuccess) {                            \
            printf("%s: %s\n", #x, cudaGetErrorString(e)); \
            exit(1);                                       \
        }                                                  \
    } while (0)

static float time_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaMemcpyAsync(dst, src, bytes, kind, s)); // warm-up
    CK(cudaStreamSynchronize(s));
    CK(cudaEventRecord(a, s));
    for (int i = 0; i < reps; i++) CK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return ms / reps;
}

int main() {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const size_t sizes[] = {4u << 10, 600u << 10, 16u << 20,
                            256u << 20}; // logits, one 224 image, a stage, weights-scale
    printf("%-10s %12s %12s %12s %12s %12s\n", "bytes", "H2D pageable", "H2D pinned", "D2H pageable", "D2H pinned",
           "D2D");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *d0, *d1, *hp, *pg = malloc(n);
        CK(cudaMalloc(&d0, n));
        CK(cudaMalloc(&d1, n));
        CK(cudaMallocHost(&hp, n));
        for (size_t j = 0; j < n; j++) ((char *)pg)[j] = (char)j;
        const int reps = n < (1u << 20) ? 200 : 20;
        float t[5] = {time_copy(d0, pg, n, cudaMemcpyHostToDevice, s, reps),
                      time_copy(d0, hp, n, cudaMemcpyHostToDevice, s, reps),
                      time_copy(pg, d0, n, cudaMemcpyDeviceToHost, s, reps),
                      time_copy(hp, d0, n, cudaMemcpyDeviceToHost, s, reps),
                      time_copy(d1, d0, n, cudaMemcpyDeviceToDevice, s, reps)};
        printf("%-10zu", n);
        for (int k = 0; k < 5; k++)
            printf(" %9.2f GB/s", n / (t[k] * 1e-3) / 1e9 * (k == 4 ? 2 : 1)); // D2D: read + write
        printf("   (%.1f us for H2D pageable)\n", t[0] * 1e3);
        CK(cudaFree(d0));
        CK(cudaFree(d1));
        CK(cudaFreeHost(hp));
        free(pg);
    }
    return 0;
}
