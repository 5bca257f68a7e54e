// A fake libcuda.so.1 for loader_test.go (built there with cc -shared; kept in testdata/
// so the package build never sees it). FAKE_CUDA selects the behaviour:
//   noinit  cuInit fails with CUDA_ERROR_NO_DEVICE
//   nodev   no devices
//   dev     one sm_80 device whose cuModuleLoadData fails with CUDA_ERROR_INVALID_IMAGE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
static const char *mode(void) {
	const char *m = getenv("FAKE_CUDA");
	return m ? m : "";
}
CUresult cuGetErrorName(CUresult r, const char **s) {
	*s = r == 100 ? "CUDA_ERROR_NO_DEVICE" : r == 200 ? "CUDA_ERROR_INVALID_IMAGE" : "CUDA_ERROR_UNKNOWN";
	return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	*s = r == 100 ? "no CUDA-capable device is detected" : r == 200 ? "device kernel image is invalid" : "unknown error";
	return 0;
}
CUresult cuInit(unsigned f) { (void)f; return strcmp(mode(), "noinit") == 0 ? 100 : 0; }
CUresult cuDriverGetVersion(int *v) { *v = 12040; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = strcmp(mode(), "dev") == 0 ? 1 : 0; return 0; }
CUresult cuDeviceGet(int *d, int i) { *d = i; return 0; }
CUresult cuDeviceGetName(char *name, int len, int d) { (void)d; strncpy(name, "Fake GPU", len); return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
	(void)d;
	*v = attr == 75 ? 8 : attr == 76 ? 0 : 1;
	return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = 1 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = (void *)1; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return 0; }
CUresult cuCtxSetCurrent(void *c) { (void)c; return 0; }
CUresult cuModuleLoadData(void **m, const void *img) { (void)m; (void)img; return 200; }
CUresult cuModuleUnload(void *m) { (void)m; return 0; }
// Everything past module loading is never reached by the tests: fail loudly if it is.
#define NOT_REACHED(name) CUresult name() { return 999; }
NOT_REACHED(cuModuleGetFunction)
NOT_REACHED(cuMemAlloc_v2)
NOT_REACHED(cuMemFree_v2)
NOT_REACHED(cuMemHostAlloc)
NOT_REACHED(cuMemFreeHost)
NOT_REACHED(cuMemcpyHtoD_v2)
NOT_REACHED(cuMemcpyDtoH_v2)
NOT_REACHED(cuMemcpyHtoDAsync_v2)
NOT_REACHED(cuMemcpyDtoHAsync_v2)
NOT_REACHED(cuMemcpyDtoDAsync_v2)
NOT_REACHED(cuStreamCreate)
NOT_REACHED(cuStreamDestroy_v2)
NOT_REACHED(cuStreamSynchronize)
NOT_REACHED(cuLaunchKernel)
