//go:build linux && cgo && !purego

// See loader.h. Every entry point is resolved once; a missing one makes the whole library
// unusable (with its name in the reason) rather than failing later in the middle of work.

#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define CUAPI // cuda.h's CUDAAPI is empty on Linux

// Driver entry points: X(name in the library, return type, parameters).
#define DRIVER_FUNCS(X) \
	X(cuGetErrorName, CUresult, (CUresult, const char **)) \
	X(cuGetErrorString, CUresult, (CUresult, const char **)) \
	X(cuInit, CUresult, (unsigned)) \
	X(cuDriverGetVersion, CUresult, (int *)) \
	X(cuDeviceGetCount, CUresult, (int *)) \
	X(cuDeviceGet, CUresult, (CUdevice *, int)) \
	X(cuDeviceGetName, CUresult, (char *, int, CUdevice)) \
	X(cuDeviceGetAttribute, CUresult, (int *, int, CUdevice)) \
	X(cuDeviceTotalMem_v2, CUresult, (size_t *, CUdevice)) \
	X(cuDevicePrimaryCtxRetain, CUresult, (CUcontext *, CUdevice)) \
	X(cuDevicePrimaryCtxRelease_v2, CUresult, (CUdevice)) \
	X(cuCtxSetCurrent, CUresult, (CUcontext)) \
	X(cuModuleLoadData, CUresult, (CUmodule *, const void *)) \
	X(cuModuleUnload, CUresult, (CUmodule)) \
	X(cuModuleGetFunction, CUresult, (CUfunction *, CUmodule, const char *)) \
	X(cuMemAlloc_v2, CUresult, (CUdeviceptr *, size_t)) \
	X(cuMemFree_v2, CUresult, (CUdeviceptr)) \
	X(cuMemHostAlloc, CUresult, (void **, size_t, unsigned)) \
	X(cuMemFreeHost, CUresult, (void *)) \
	X(cuMemcpyHtoD_v2, CUresult, (CUdeviceptr, const void *, size_t)) \
	X(cuMemcpyDtoH_v2, CUresult, (void *, CUdeviceptr, size_t)) \
	X(cuMemcpyHtoDAsync_v2, CUresult, (CUdeviceptr, const void *, size_t, CUstream)) \
	X(cuMemcpyDtoHAsync_v2, CUresult, (void *, CUdeviceptr, size_t, CUstream)) \
	X(cuMemcpyDtoDAsync_v2, CUresult, (CUdeviceptr, CUdeviceptr, size_t, CUstream)) \
	X(cuStreamCreate, CUresult, (CUstream *, unsigned)) \
	X(cuStreamDestroy_v2, CUresult, (CUstream)) \
	X(cuStreamSynchronize, CUresult, (CUstream)) \
	X(cuLaunchKernel, CUresult, (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, \
		unsigned, CUstream, void **, void **))

// NVRTC entry points every version since CUDA 7 has.
#define NVRTC_FUNCS(X) \
	X(nvrtcGetErrorString, const char *, (nvrtcResult)) \
	X(nvrtcVersion, nvrtcResult, (int *, int *)) \
	X(nvrtcCreateProgram, nvrtcResult, (nvrtcProgram *, const char *, const char *, int, const char *const *, \
		const char *const *)) \
	X(nvrtcCompileProgram, nvrtcResult, (nvrtcProgram, int, const char *const *)) \
	X(nvrtcGetProgramLogSize, nvrtcResult, (nvrtcProgram, size_t *)) \
	X(nvrtcGetProgramLog, nvrtcResult, (nvrtcProgram, char *)) \
	X(nvrtcGetPTXSize, nvrtcResult, (nvrtcProgram, size_t *)) \
	X(nvrtcGetPTX, nvrtcResult, (nvrtcProgram, char *)) \
	X(nvrtcDestroyProgram, nvrtcResult, (nvrtcProgram *))

// Optional NVRTC entry points: CUBIN output (CUDA 11.1+) and the list of supported
// architectures (CUDA 11.2+). Without them modelc compiles to PTX for the driver to JIT.
#define NVRTC_OPTIONAL(X) \
	X(nvrtcGetCUBINSize, nvrtcResult, (nvrtcProgram, size_t *)) \
	X(nvrtcGetCUBIN, nvrtcResult, (nvrtcProgram, char *)) \
	X(nvrtcGetNumSupportedArchs, nvrtcResult, (int *)) \
	X(nvrtcGetSupportedArchs, nvrtcResult, (int *))

// The resolved pointers. A library is resolved into a local copy first and installed
// only when every required symbol was found, so a failed load changes nothing.
#define DECLARE(name, ret, params) ret(CUAPI *name) params;
struct driver { DRIVER_FUNCS(DECLARE) };
struct nvrtc { NVRTC_FUNCS(DECLARE) NVRTC_OPTIONAL(DECLARE) };
static struct driver drv;
static struct nvrtc nv;

static void *open_lib(const char *path, char *err, size_t errlen) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : path);
	}
	return h;
}

#define RESOLVE(name, ret, params)                                                      \
	tmp.name = (ret(CUAPI *) params)dlsym(h, #name);                                   \
	if (!tmp.name) {                                                                   \
		snprintf(err, errlen, "%s has no symbol %s (too old or not the CUDA library)", path, #name); \
		dlclose(h);                                                                    \
		return 1;                                                                      \
	}

#define RESOLVE_OPTIONAL(name, ret, params) tmp.name = (ret(CUAPI *) params)dlsym(h, #name);

int mc_cuda_load_driver(const char *path, char *err, size_t errlen) {
	void *h = open_lib(path, err, errlen);
	if (!h) return 1;
	struct driver tmp;
	DRIVER_FUNCS(RESOLVE)
	drv = tmp;
	return 0;
}

int mc_cuda_load_nvrtc(const char *path, char *err, size_t errlen) {
	void *h = open_lib(path, err, errlen);
	if (!h) return 1;
	struct nvrtc tmp;
	NVRTC_FUNCS(RESOLVE)
	NVRTC_OPTIONAL(RESOLVE_OPTIONAL)
	nv = tmp;
	return 0;
}

const char *mc_cu_error_name(CUresult r) {
	const char *s = NULL;
	if (!drv.cuGetErrorName || drv.cuGetErrorName(r, &s) != 0 || !s) return "CUDA_ERROR_UNKNOWN";
	return s;
}

const char *mc_cu_error_string(CUresult r) {
	const char *s = NULL;
	if (!drv.cuGetErrorString || drv.cuGetErrorString(r, &s) != 0 || !s) return "unknown error";
	return s;
}

CUresult mc_cuInit(void) { return drv.cuInit(0); }
CUresult mc_cuDriverGetVersion(int *v) { return drv.cuDriverGetVersion(v); }
CUresult mc_cuDeviceGetCount(int *n) { return drv.cuDeviceGetCount(n); }
CUresult mc_cuDeviceGet(CUdevice *d, int ordinal) { return drv.cuDeviceGet(d, ordinal); }
CUresult mc_cuDeviceGetName(char *name, int len, CUdevice d) { return drv.cuDeviceGetName(name, len, d); }
CUresult mc_cuDeviceGetAttribute(int *v, int attr, CUdevice d) { return drv.cuDeviceGetAttribute(v, attr, d); }
CUresult mc_cuDeviceTotalMem(size_t *bytes, CUdevice d) { return drv.cuDeviceTotalMem_v2(bytes, d); }
CUresult mc_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { return drv.cuDevicePrimaryCtxRetain(c, d); }
CUresult mc_cuDevicePrimaryCtxRelease(CUdevice d) { return drv.cuDevicePrimaryCtxRelease_v2(d); }
CUresult mc_cuCtxSetCurrent(CUcontext c) { return drv.cuCtxSetCurrent(c); }
CUresult mc_cuModuleLoadData(CUmodule *m, const void *image) { return drv.cuModuleLoadData(m, image); }
CUresult mc_cuModuleUnload(CUmodule m) { return drv.cuModuleUnload(m); }
CUresult mc_cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	return drv.cuModuleGetFunction(f, m, name);
}
CUresult mc_cuMemAlloc(CUdeviceptr *p, size_t bytes) { return drv.cuMemAlloc_v2(p, bytes); }
CUresult mc_cuMemFree(CUdeviceptr p) { return drv.cuMemFree_v2(p); }
CUresult mc_cuMemHostAlloc(void **p, size_t bytes) { return drv.cuMemHostAlloc(p, bytes, 0); }
CUresult mc_cuMemFreeHost(void *p) { return drv.cuMemFreeHost(p); }
CUresult mc_cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t bytes) { return drv.cuMemcpyHtoD_v2(dst, src, bytes); }
CUresult mc_cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t bytes) { return drv.cuMemcpyDtoH_v2(dst, src, bytes); }
CUresult mc_cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
	return drv.cuMemcpyHtoDAsync_v2(dst, src, bytes, s);
}
CUresult mc_cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
	return drv.cuMemcpyDtoHAsync_v2(dst, src, bytes, s);
}
CUresult mc_cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s) {
	return drv.cuMemcpyDtoDAsync_v2(dst, src, bytes, s);
}
// CU_STREAM_NON_BLOCKING (1): no implicit synchronisation with the legacy default stream.
CUresult mc_cuStreamCreate(CUstream *s) { return drv.cuStreamCreate(s, 1); }
CUresult mc_cuStreamDestroy(CUstream s) { return drv.cuStreamDestroy_v2(s); }
CUresult mc_cuStreamSynchronize(CUstream s) { return drv.cuStreamSynchronize(s); }
CUresult mc_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
	unsigned bz, unsigned shared, CUstream s, void **params) {
	return drv.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
}

CUresult mc_launch(CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by, CUstream s,
	int nargs, const uint64_t *args) {
	// cuLaunchKernel reads each argument through a pointer, with the kernel parameter's
	// own size: on little-endian machines the low 4 bytes of a uint64_t are its int32.
	uint64_t vals[16];
	void *params[16];
	if (nargs > 16) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) {
		vals[i] = args[i];
		params[i] = &vals[i];
	}
	return drv.cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, s, params, NULL);
}

const char *mc_nvrtc_error_string(nvrtcResult r) {
	const char *s = nv.nvrtcGetErrorString ? nv.nvrtcGetErrorString(r) : NULL;
	return s ? s : "NVRTC_ERROR";
}
nvrtcResult mc_nvrtcVersion(int *major, int *minor) { return nv.nvrtcVersion(major, minor); }
int mc_nvrtc_has_supported_archs(void) { return nv.nvrtcGetNumSupportedArchs && nv.nvrtcGetSupportedArchs; }
nvrtcResult mc_nvrtcGetNumSupportedArchs(int *n) { return nv.nvrtcGetNumSupportedArchs(n); }
nvrtcResult mc_nvrtcGetSupportedArchs(int *archs) { return nv.nvrtcGetSupportedArchs(archs); }
nvrtcResult mc_nvrtcCreateProgram(nvrtcProgram *p, const char *src, const char *name) {
	return nv.nvrtcCreateProgram(p, src, name, 0, NULL, NULL);
}
nvrtcResult mc_nvrtcCompileProgram(nvrtcProgram p, int nopts, const char **opts) {
	return nv.nvrtcCompileProgram(p, nopts, (const char *const *)opts);
}
nvrtcResult mc_nvrtcGetProgramLogSize(nvrtcProgram p, size_t *n) { return nv.nvrtcGetProgramLogSize(p, n); }
nvrtcResult mc_nvrtcGetProgramLog(nvrtcProgram p, char *log) { return nv.nvrtcGetProgramLog(p, log); }
int mc_nvrtc_has_cubin(void) { return nv.nvrtcGetCUBINSize && nv.nvrtcGetCUBIN; }
nvrtcResult mc_nvrtcGetCUBINSize(nvrtcProgram p, size_t *n) { return nv.nvrtcGetCUBINSize(p, n); }
nvrtcResult mc_nvrtcGetCUBIN(nvrtcProgram p, char *out) { return nv.nvrtcGetCUBIN(p, out); }
nvrtcResult mc_nvrtcGetPTXSize(nvrtcProgram p, size_t *n) { return nv.nvrtcGetPTXSize(p, n); }
nvrtcResult mc_nvrtcGetPTX(nvrtcProgram p, char *out) { return nv.nvrtcGetPTX(p, out); }
nvrtcResult mc_nvrtcDestroyProgram(nvrtcProgram *p) { return nv.nvrtcDestroyProgram(p); }
