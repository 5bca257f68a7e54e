// The CUDA driver API and NVRTC, opened with dlopen at run time: nothing CUDA is
// needed to build modelc. Only the handful of types and entry points modelc uses are
// declared here, with the ABI of cuda.h / nvrtc.h (stable since CUDA 4 / 7; the _v2
// symbols are the ones cuda.h maps the plain names to).
#ifndef MODELC_CUDA_LOADER_H
#define MODELC_CUDA_LOADER_H

#include <stddef.h>
#include <stdint.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef unsigned long long CUdeviceptr;

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

// Attribute numbers from cuda.h's CUdevice_attribute.
enum {
	MC_ATTR_CLOCK_RATE = 13,           // kHz
	MC_ATTR_MULTIPROCESSOR_COUNT = 16,
	MC_ATTR_MEMORY_CLOCK_RATE = 36,    // kHz
	MC_ATTR_GLOBAL_MEMORY_BUS_WIDTH = 37,
	MC_ATTR_ASYNC_ENGINE_COUNT = 40,
	MC_ATTR_CC_MAJOR = 75,
	MC_ATTR_CC_MINOR = 76,
};

// mc_cuda_load_driver / _nvrtc open libcuda / libnvrtc at the given path and resolve
// every entry point. They return 0, or 1 with a one-line reason in err; a failed load
// leaves the previously loaded library (if any) in place.
int mc_cuda_load_driver(const char *libcuda, char *err, size_t errlen);
int mc_cuda_load_nvrtc(const char *libnvrtc, char *err, size_t errlen);

// Thin calls through the resolved pointers (Go cannot call a C function pointer).
const char *mc_cu_error_name(CUresult r);
const char *mc_cu_error_string(CUresult r);
CUresult mc_cuInit(void);
CUresult mc_cuDriverGetVersion(int *v);
CUresult mc_cuDeviceGetCount(int *n);
CUresult mc_cuDeviceGet(CUdevice *d, int ordinal);
CUresult mc_cuDeviceGetName(char *name, int len, CUdevice d);
CUresult mc_cuDeviceGetAttribute(int *v, int attr, CUdevice d);
CUresult mc_cuDeviceTotalMem(size_t *bytes, CUdevice d);
CUresult mc_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d);
CUresult mc_cuDevicePrimaryCtxRelease(CUdevice d);
CUresult mc_cuCtxSetCurrent(CUcontext c);
CUresult mc_cuModuleLoadData(CUmodule *m, const void *image);
CUresult mc_cuModuleUnload(CUmodule m);
CUresult mc_cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name);
CUresult mc_cuMemAlloc(CUdeviceptr *p, size_t bytes);
CUresult mc_cuMemFree(CUdeviceptr p);
CUresult mc_cuMemHostAlloc(void **p, size_t bytes);
CUresult mc_cuMemFreeHost(void *p);
CUresult mc_cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t bytes);
CUresult mc_cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t bytes);
CUresult mc_cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes, CUstream s);
CUresult mc_cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult mc_cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult mc_cuStreamCreate(CUstream *s);
CUresult mc_cuStreamDestroy(CUstream s);
CUresult mc_cuStreamSynchronize(CUstream s);
CUresult mc_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
	unsigned bz, unsigned shared, CUstream s, void **params);

// mc_launch packs up to 16 kernel arguments, each given as 8 bytes holding a pointer,
// a 64-bit integer or (in its low 4 bytes) a 32-bit value, and launches f.
CUresult mc_launch(CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by, CUstream s,
	int nargs, const uint64_t *args);

const char *mc_nvrtc_error_string(nvrtcResult r);
nvrtcResult mc_nvrtcVersion(int *major, int *minor);
int mc_nvrtc_has_supported_archs(void);
nvrtcResult mc_nvrtcGetNumSupportedArchs(int *n);
nvrtcResult mc_nvrtcGetSupportedArchs(int *archs);
nvrtcResult mc_nvrtcCreateProgram(nvrtcProgram *p, const char *src, const char *name);
nvrtcResult mc_nvrtcCompileProgram(nvrtcProgram p, int nopts, const char **opts);
nvrtcResult mc_nvrtcGetProgramLogSize(nvrtcProgram p, size_t *n);
nvrtcResult mc_nvrtcGetProgramLog(nvrtcProgram p, char *log);
int mc_nvrtc_has_cubin(void);
nvrtcResult mc_nvrtcGetCUBINSize(nvrtcProgram p, size_t *n);
nvrtcResult mc_nvrtcGetCUBIN(nvrtcProgram p, char *out);
nvrtcResult mc_nvrtcGetPTXSize(nvrtcProgram p, size_t *n);
nvrtcResult mc_nvrtcGetPTX(nvrtcProgram p, char *out);
nvrtcResult mc_nvrtcDestroyProgram(nvrtcProgram *p);

#endif
