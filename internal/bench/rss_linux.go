package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// resetPeakRSS resets the process's resident-set high-water mark
// (writing 5 to /proc/self/clear_refs), so that peakRSS reports the peak
// from now on, and says what peakRSS will measure.
func resetPeakRSS() string {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return "process peak since start (VmHWM), in-process server included"
	}
	return "process peak during the drain (VmHWM), in-process server included"
}

// peakRSS returns VmHWM of /proc/self/status in bytes, 0 if unknown.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
