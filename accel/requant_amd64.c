//go:build amd64 && cgo && !purego

// RequantRows for AVX-512 and AVX2 (the file is compiled for baseline x86-64; each
// function carries its target).
#include <stdint.h>

#define KTGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define REQUANT_FN mc_requant_rows_avx512
#include "requant_driver.h"
#undef KTGT
#undef REQUANT_FN

#define KTGT __attribute__((target("avx2,fma")))
#define REQUANT_FN mc_requant_rows_avx2
#include "requant_driver.h"
