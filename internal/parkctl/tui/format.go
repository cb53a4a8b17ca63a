package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// span formats a duration the way an operator reads it at a glance: the
// largest unit only ("45s", "12m", "3h", "9d").
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
}

// ago says how long before now t was: "5m ago", "now" within a second,
// "in 3m" for a time ahead (clocks differ), "never" for nil.
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d < 0:
		return "in " + span(d)
	}
	return span(d) + " ago"
}

// until says when t comes relative to now: "in 3d", "2h ago", "never"
// for nil (no expiry).
func until(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	d := t.Sub(now)
	if d <= 0 {
		return span(d) + " ago"
	}
	return "in " + span(d)
}

// count formats n with thousands separators: 12,345.
func count[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sparkLevels are the glyphs of a sparkline, lowest first; a bucket
// without uplinks is a space.
var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values (oldest first) in width cells. With fewer cells
// than values, neighbouring values are summed into one cell (the newest
// value always ends the line); with more, the line is as long as values.
func sparkline(values []int64, width int) string {
	if width <= 0 || len(values) == 0 {
		return ""
	}
	buckets := values
	if width < len(values) {
		buckets = make([]int64, width)
		// Cell i holds values [lo, hi), proportionally, so that the
		// buckets cover every value once.
		for i := range buckets {
			lo, hi := i*len(values)/width, (i+1)*len(values)/width
			for _, v := range values[lo:hi] {
				buckets[i] += v
			}
		}
	}
	var peak int64
	for _, v := range buckets {
		peak = max(peak, v)
	}
	var b strings.Builder
	for _, v := range buckets {
		if v <= 0 || peak == 0 {
			b.WriteByte(' ')
			continue
		}
		level := int((v*int64(len(sparkLevels)) + peak - 1) / peak) // 1..8, rounded up
		b.WriteRune(sparkLevels[level-1])
	}
	return b.String()
}

// Glyphs of an occupancy bar: distinct shapes, so the bar reads without
// colour too.
const (
	glyphOccupied = '█'
	glyphFree     = '░'
	glyphUnknown  = '·'
)

// barParts splits width cells among occupied, free and unknown in
// proportion (largest remainder), so the parts always fill the bar, and a
// non-zero count gets at least one cell while another part can spare it.
func barParts(occupied, free, unknown, width int) [3]int {
	var parts [3]int
	vals := [3]int{occupied, free, unknown}
	total := occupied + free + unknown
	if total == 0 || width <= 0 {
		return parts
	}
	var rem [3]int
	left := width
	for i, v := range vals {
		parts[i] = v * width / total
		rem[i] = v * width % total
		left -= parts[i]
	}
	for ; left > 0; left-- {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		parts[best]++
		rem[best] = -1
	}
	for i, v := range vals {
		if v == 0 || parts[i] > 0 {
			continue
		}
		big := 0
		for j := range parts {
			if parts[j] > parts[big] {
				big = j
			}
		}
		if parts[big] > 1 {
			parts[big]--
			parts[i]++
		}
	}
	return parts
}

// fit pads or truncates s (which may carry ANSI styling) to exactly width
// cells; right aligns it to the right.
func fit(s string, width int, right bool) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	pad := strings.Repeat(" ", width-w)
	if right {
		return pad + s
	}
	return s + pad
}

// clip truncates s to width cells without padding it.
func clip(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// spread lays left and right out on one line of width cells, the right
// part flush right; when both do not fit, left is cut first.
func spread(left, right string, width int) string {
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if rw >= width {
		return clip(right, width)
	}
	if lw+1+rw > width {
		left = clip(left, width-rw-1)
		lw = ansi.StringWidth(left)
	}
	return left + strings.Repeat(" ", width-lw-rw) + right
}
