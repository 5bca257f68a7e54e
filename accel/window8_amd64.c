//go:build amd64 && cgo && !purego

// WindowRows8 for AVX-512 and AVX2 (the file is compiled for baseline x86-64; each
// function carries its target).
#include <stdint.h>
#include <string.h>

#define KTGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define WINDOW8_FN mc_window_rows8_avx512
#include "window8_driver.h"
#undef KTGT
#undef WINDOW8_FN

#define KTGT __attribute__((target("avx2,fma")))
#define WINDOW8_FN mc_window_rows8_avx2
#include "window8_driver.h"
