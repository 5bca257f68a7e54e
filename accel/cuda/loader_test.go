package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The loader's failure paths, checked on any machine: each case runs this test binary
// again in a child process (the driver is loaded once per process) with MODELC_CUDA_LIB
// pointing at a missing library, a library that is not CUDA, or a fake libcuda built
// here from testdata/fakecuda.c that reports no device, or one device whose module load fails.

func TestNVRTCCandidates(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"libnvrtc.so.11.2", "libnvrtc.so.12", "libnvrtc.so.12.4.99", "libnvrtc.alt.so.12",
		"libnvrtc-builtins.so.12.4", "libnvrtc.so.12.alt", "libnvrtc.so.13.0.1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := nvrtcCandidates("", []string{dir})
	want := []string{filepath.Join(dir, "libnvrtc.so.13.0.1"), "libnvrtc.so.13", filepath.Join(dir, "libnvrtc.so.12.4.99"),
		filepath.Join(dir, "libnvrtc.so.12"), "libnvrtc.so.12", filepath.Join(dir, "libnvrtc.so.11.2"), "libnvrtc.so.11.2",
		"libnvrtc.so.11.1", "libnvrtc.so.11.0"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("candidates:\n got %q\nwant %q", got, want)
	}
	if got := nvrtcCandidates("/x/libnvrtc.so", []string{dir}); !reflect.DeepEqual(got, []string{"/x/libnvrtc.so"}) {
		t.Fatalf("override: %q", got)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a.cu(3): error\n\n  b  \n"); got != "a.cu(3): error | b" {
		t.Fatalf("%q", got)
	}
	if got := oneLine(strings.Repeat("x", 1000)); len(got) > 410 {
		t.Fatalf("not bounded: %d bytes", len(got))
	}
}

// childEnv marks the child process and says which case it runs.
const childEnv = "MODELC_CUDA_TEST_CHILD"

// TestReasonChild is the child side: it prints Open's reason, or "OPENED".
func TestReasonChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as the child of TestLoaderFailures")
	}
	if mode == "badsource" {
		kernelSource = "this is not CUDA C\n"
	}
	_, err := Open()
	if err == nil {
		os.Stdout.WriteString("REASON:OPENED\n")
		return
	}
	os.Stdout.WriteString("REASON:" + Reason() + "\n")
}

func childReason(t *testing.T, mode string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReasonChild$", "-test.v")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+mode)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "REASON:"); ok {
			return r
		}
	}
	t.Fatalf("child %s printed no reason:\n%s", mode, out)
	return ""
}

// buildFake compiles testdata/fakecuda.c into a shared library, or skips without a C compiler.
func buildFake(t *testing.T) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the fake libcuda", cc)
	}
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, "testdata/fakecuda.c").CombinedOutput(); err != nil {
		t.Fatalf("building the fake libcuda: %v\n%s", err, out)
	}
	return lib
}

func TestLoaderFailures(t *testing.T) {
	if !built {
		t.Skip("CUDA support not compiled in (cgo off or purego)")
	}
	check := func(name, got string, wants ...string) {
		t.Helper()
		if strings.Contains(got, "\n") {
			t.Errorf("%s: reason spans lines: %q", name, got)
		}
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: reason %q lacks %q", name, got, w)
			}
		}
		t.Logf("%s: %s", name, got)
	}
	check("missing driver", childReason(t, "plain", EnvDriverLib+"=/nonexistent/libcuda.so.1"),
		"no NVIDIA driver: cannot load /nonexistent/libcuda.so.1", "No such file")
	check("not a CUDA library", childReason(t, "plain", EnvDriverLib+"=libm.so.6"),
		"no NVIDIA driver", "has no symbol cuGetErrorName")

	fake := buildFake(t)
	check("cuInit fails", childReason(t, "plain", EnvDriverLib+"="+fake, "FAKE_CUDA=noinit"),
		"the NVIDIA driver does not initialise: cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)")
	check("no device", childReason(t, "plain", EnvDriverLib+"="+fake, "FAKE_CUDA=nodev"),
		"no CUDA device: the driver reports none")
	check("bad ordinal", childReason(t, "plain", EnvDriverLib+"="+fake, "FAKE_CUDA=dev", EnvDevice+"=3"),
		"no CUDA device 3: the driver reports 1")
	check("no NVRTC", childReason(t, "plain", EnvDriverLib+"="+fake, "FAKE_CUDA=dev", EnvNVRTCLib+"=/nonexistent/libnvrtc.so.12"),
		"no NVRTC: none of /nonexistent/libnvrtc.so.12 loads")

	// With a real NVRTC (MODELC_NVRTC_LIB or the usual places) the compile itself runs:
	// a broken source must give the compiler's message; the real one compiles, and the
	// fake driver then refuses the module.
	t.Run("compile", func(t *testing.T) {
		if err := loadNVRTCOnce(); err != nil {
			t.Skipf("the compile paths need NVRTC: %v", err)
		}
		check("compile error", childReason(t, "badsource", EnvDriverLib+"="+fake, "FAKE_CUDA=dev"),
			"could not compile the kernels for sm_80", "error")
		check("module refused", childReason(t, "plain", EnvDriverLib+"="+fake, "FAKE_CUDA=dev"),
			"the driver cannot load the kernels compiled for sm_80", "CUDA_ERROR_INVALID_IMAGE")
	})
}

// TestCompileAllArchs compiles the embedded kernels with NVRTC (no GPU needed) for the
// tensor-core path (sm_80) and the scalar fallback (sm_75); MODELC_CUDA_COMPILE_ALL=1
// adds every architecture from Volta to Blackwell (about 15 s each on a small machine).
func TestCompileAllArchs(t *testing.T) {
	if err := loadNVRTCOnce(); err != nil {
		t.Skipf("no NVRTC: %v", err)
	}
	archs := [][2]int{{8, 0}, {7, 5}}
	if os.Getenv("MODELC_CUDA_COMPILE_ALL") == "1" {
		archs = append(archs, [2]int{7, 0}, [2]int{8, 6}, [2]int{8, 9}, [2]int{9, 0}, [2]int{10, 0}, [2]int{12, 0})
	}
	for _, a := range archs {
		target, err := CompileCheck(a[0], a[1])
		if err != nil {
			t.Errorf("sm_%d%d: %v", a[0], a[1], err)
			continue
		}
		t.Logf("sm_%d%d → %s", a[0], a[1], target)
	}
}
