//go:build race

package npy

// slowdown scales the tests' time limits: the race detector makes code 5-10 times slower.
const slowdown = 10
