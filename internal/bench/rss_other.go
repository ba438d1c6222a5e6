//go:build !linux

package bench

func resetPeakRSS() string { return "not measured on this system" }

func peakRSS() int64 { return 0 }
