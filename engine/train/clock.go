package train

import "time"

var epoch0 = time.Now()

// nowSeconds is a monotonic clock for the epochs' timing (never part of a result).
func nowSeconds() float64 { return time.Since(epoch0).Seconds() }
