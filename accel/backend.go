package accel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"

	"github.com/modelc/modelc/accel/cuda"
)

// Backend names a family of kernel implementations.
type Backend string

// The backends MODELC_ACCEL accepts.
const (
	BackendAuto   Backend = "auto"
	BackendGo     Backend = "go"
	BackendAVX2   Backend = "avx2"
	BackendAVX512 Backend = "avx512"
	BackendNEON   Backend = "neon"
	BackendCUDA   Backend = "cuda"
)

// EnvVar is the environment variable that overrides the automatic choice.
const EnvVar = "MODELC_ACCEL"

// ErrUnavailable is wrapped by every error that reports a backend this binary or
// this CPU cannot run.
var ErrUnavailable = errors.New("accel: backend unavailable")

// features is the part of the CPU description the kernels care about. It is read once
// from cpuid at start-up; tests build other values of it to switch paths off.
type features struct {
	avx2, fma, f16c                             bool
	avx512f, avx512bw, avx512dq, avx512vl       bool
	avx512vnni, avx512bf16, avx512fp16, avxvnni bool
	asimd, asimddp, fphp                        bool
}

func detect() features {
	c := &cpuid.CPU
	return features{
		avx2: c.Supports(cpuid.AVX2), fma: c.Supports(cpuid.FMA3), f16c: c.Supports(cpuid.F16C),
		avx512f: c.Supports(cpuid.AVX512F), avx512bw: c.Supports(cpuid.AVX512BW),
		avx512dq: c.Supports(cpuid.AVX512DQ), avx512vl: c.Supports(cpuid.AVX512VL),
		avx512vnni: c.Supports(cpuid.AVX512VNNI), avx512bf16: c.Supports(cpuid.AVX512BF16),
		avx512fp16: c.Supports(cpuid.AVX512FP16), avxvnni: c.Supports(cpuid.AVXVNNI),
		// NEON (ASIMD) is part of the arm64 baseline.
		asimd:   runtime.GOARCH == "arm64" || c.Supports(cpuid.ASIMD),
		asimddp: c.Supports(cpuid.ASIMDDP), fphp: c.Supports(cpuid.FPHP),
	}
}

func (f features) list() []string {
	var s []string
	add := func(ok bool, name string) {
		if ok {
			s = append(s, name)
		}
	}
	add(f.avx2, "avx2")
	add(f.fma, "fma")
	add(f.f16c, "f16c")
	add(f.avx512f, "avx512f")
	add(f.avx512bw, "avx512bw")
	add(f.avx512dq, "avx512dq")
	add(f.avx512vl, "avx512vl")
	add(f.avx512vnni, "avx512vnni")
	add(f.avx512bf16, "avx512bf16")
	add(f.avx512fp16, "avx512fp16")
	add(f.avxvnni, "avxvnni")
	add(f.asimd, "asimd")
	add(f.asimddp, "asimddp")
	add(f.fphp, "fphp")
	return s
}

// requirement says why a backend can or cannot run: "" when it can.
func requirement(b Backend, f features) string {
	switch b {
	case BackendGo:
		return ""
	case BackendCUDA:
		// Opening the device loads the driver and compiles the kernels (once per process).
		return cuda.Reason()
	case BackendAVX512, BackendAVX2, BackendNEON:
		if !simdBuilt(b) {
			return fmt.Sprintf("the %s kernels are not compiled into this binary (GOARCH=%s; %s)",
				b, runtime.GOARCH, buildNote)
		}
	default:
		return fmt.Sprintf("unknown backend %q (want one of go, avx2, avx512, neon, cuda, auto)", b)
	}
	var missing []string
	need := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	switch b {
	case BackendAVX512:
		need(f.avx512f, "avx512f")
		need(f.avx512bw, "avx512bw")
		need(f.avx512dq, "avx512dq")
		need(f.avx512vl, "avx512vl")
		need(f.fma, "fma")
		need(f.f16c, "f16c")
		need(f.avx2, "avx2")
	case BackendAVX2:
		need(f.avx2, "avx2")
		need(f.fma, "fma")
		need(f.f16c, "f16c")
	case BackendNEON:
		need(f.asimd, "asimd")
	}
	if len(missing) > 0 {
		return "this CPU lacks " + strings.Join(missing, ", ")
	}
	return ""
}

// preference is the order auto tries backends in.
var preference = []Backend{BackendAVX512, BackendAVX2, BackendNEON, BackendGo}

// choose resolves a request (an MODELC_ACCEL value) to a backend, or explains why it cannot.
func choose(req string, f features) (Backend, string, error) {
	req = strings.ToLower(strings.TrimSpace(req))
	if req == "" || req == string(BackendAuto) {
		var skipped []string
		for _, b := range preference {
			if why := requirement(b, f); why != "" {
				skipped = append(skipped, fmt.Sprintf("%s: %s", b, why))
				continue
			}
			reason := "auto: best backend this CPU runs"
			if len(skipped) > 0 {
				reason += " (skipped " + strings.Join(skipped, "; ") + ")"
			}
			return b, reason, nil
		}
		return BackendGo, "auto", nil // unreachable: go always runs
	}
	b := Backend(req)
	if why := requirement(b, f); why != "" {
		return "", "", fmt.Errorf("%w: %s=%s: %s (available here: %s)", ErrUnavailable, EnvVar, req, why,
			strings.Join(availableNames(f), ", "))
	}
	return b, fmt.Sprintf("requested by %s=%s", EnvVar, req), nil
}

// availableNames lists the backends that run here: CUDA first when a GPU is usable
// (asking probes the driver), then the CPU backends best first.
func availableNames(f features) []string {
	var s []string
	if requirement(BackendCUDA, f) == "" {
		s = append(s, string(BackendCUDA))
	}
	for _, b := range preference {
		if requirement(b, f) == "" {
			s = append(s, string(b))
		}
	}
	return s
}

// state is the process-wide choice, made once at start-up.
type state struct {
	feat    features
	req     string
	backend Backend
	reason  string
	err     error
	tab     *table
}

var (
	stMu sync.RWMutex
	st   *state
	once sync.Once
)

func cur() *state {
	once.Do(func() {
		f := detect()
		s := &state{feat: f, req: os.Getenv(EnvVar)}
		s.backend, s.reason, s.err = choose(s.req, f)
		if s.err == nil {
			s.tab = tableForRequest(s.req, s.backend, f)
		}
		stMu.Lock()
		st = s
		stMu.Unlock()
	})
	stMu.RLock()
	defer stMu.RUnlock()
	return st
}

// Init returns the error of the start-up choice: nil when the kernels are ready, or an
// error wrapping ErrUnavailable when MODELC_ACCEL names a backend that this binary or
// this CPU cannot run. Programs should call it once at start and report the error; a
// kernel called while it is non-nil panics with the same error rather than silently
// running another backend.
func Init() error { return cur().err }

// Err is Init under the name used by checks that run later.
func Err() error { return Init() }

// Use switches every kernel to backend b ("auto" re-runs the automatic choice). It
// returns an error, and changes nothing, if b cannot run here. It is meant for tests,
// benchmarks and the command line; it must not race with running kernels.
func Use(b Backend) error {
	s0 := cur()
	be, reason, err := choose(string(b), s0.feat)
	if err != nil {
		return err
	}
	if b != BackendAuto {
		reason = "selected by accel.Use"
	}
	s := &state{feat: s0.feat, req: string(b), backend: be, reason: reason, tab: tableForRequest(string(b), be, s0.feat)}
	stMu.Lock()
	st = s
	stMu.Unlock()
	return nil
}

// Active returns the backend the kernels run on ("" while Init reports an error).
func Active() Backend { return cur().backend }

// Available lists the backends this binary can run on this CPU, best first.
func Available() []Backend {
	var out []Backend
	for _, n := range availableNames(cur().feat) {
		out = append(out, Backend(n))
	}
	return out
}

func tab() *table {
	s := cur()
	if s.err != nil {
		panic(s.err)
	}
	return s.tab
}

// KernelChoice tells which implementation serves one kernel and why.
type KernelChoice struct {
	Kernel string `json:"kernel"`
	Impl   string `json:"impl"`
	Reason string `json:"reason"`
}

// Report describes the CPU, the features found and the kernel chosen for each entry.
type Report struct {
	GOOS      string         `json:"goos"`
	GOARCH    string         `json:"goarch"`
	CPU       string         `json:"cpu"`
	Vendor    string         `json:"vendor"`
	Cores     int            `json:"cores"`
	Logical   int            `json:"logical_cpus"`
	Features  []string       `json:"features"`
	Built     []string       `json:"built"`
	Available []string       `json:"available"`
	Requested string         `json:"requested"`
	Backend   string         `json:"backend"`
	Reason    string         `json:"reason"`
	Error     string         `json:"error,omitempty"`
	Threads   int            `json:"threads"`
	CUDA      CUDAReport     `json:"cuda"`
	Kernels   []KernelChoice `json:"kernels"`
}

// Describe reports the current choice (the function behind `modelc backends`). It never
// fails: an initialisation error is carried in Report.Error. (The type is Report, so the
// function cannot share its name.)
func Describe() Report {
	s := cur()
	r := Report{
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPU: strings.TrimSpace(cpuid.CPU.BrandName), Vendor: cpuid.CPU.VendorString,
		Cores: cpuid.CPU.PhysicalCores, Logical: cpuid.CPU.LogicalCores,
		Features: s.feat.list(), Requested: s.req, Backend: string(s.backend), Reason: s.reason,
		Threads: MaxThreads(),
	}
	if r.Requested == "" {
		r.Requested = string(BackendAuto)
	}
	for _, b := range []Backend{BackendGo, BackendAVX2, BackendAVX512, BackendNEON} {
		if b == BackendGo || simdBuilt(b) {
			r.Built = append(r.Built, string(b))
		}
	}
	r.Available = availableNames(s.feat)
	if s.err != nil {
		r.Error = s.err.Error()
	}
	r.CUDA = describeCUDA(s.tab)
	if s.tab != nil {
		for _, k := range kernelNames {
			c := gpuImpl(s.tab, k, s.tab.impl[k], r.CUDA.Usable)
			r.Kernels = append(r.Kernels, KernelChoice{Kernel: k, Impl: c.impl, Reason: c.reason})
		}
	}
	return r
}

// String renders the report as a human-readable table.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpu:        %s (%s, %d cores, %d logical)\n", r.CPU, r.Vendor, r.Cores, r.Logical)
	fmt.Fprintf(&b, "platform:   %s/%s\n", r.GOOS, r.GOARCH)
	fmt.Fprintf(&b, "features:   %s\n", strings.Join(r.Features, " "))
	fmt.Fprintf(&b, "built:      %s\n", strings.Join(r.Built, " "))
	fmt.Fprintf(&b, "available:  %s\n", strings.Join(r.Available, " "))
	fmt.Fprintf(&b, "requested:  %s\n", r.Requested)
	fmt.Fprintf(&b, "cuda:       %s\n", r.CUDA.line())
	if r.Error != "" {
		fmt.Fprintf(&b, "error:      %s\n", r.Error)
		return b.String()
	}
	fmt.Fprintf(&b, "backend:    %s (%s)\n", r.Backend, r.Reason)
	fmt.Fprintf(&b, "threads:    %d\n", r.Threads)
	w1, w2 := len("kernel"), len("impl")
	for _, k := range r.Kernels {
		w1 = max(w1, len(k.Kernel))
		w2 = max(w2, len(k.Impl))
	}
	fmt.Fprintf(&b, "\n%-*s  %-*s  %s\n", w1, "kernel", w2, "impl", "why")
	for _, k := range r.Kernels {
		fmt.Fprintf(&b, "%-*s  %-*s  %s\n", w1, k.Kernel, w2, k.Impl, k.Reason)
	}
	return b.String()
}
