package atomicfile

import (
	"os"
	"sync"
	"syscall"
)

var processUmask = sync.OnceValue(func() int {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return m
})

// umask is the process umask, read once (reading it means setting it, briefly).
func umask() os.FileMode { return os.FileMode(processUmask()) }
