// Package hist is a fixed-size latency histogram: log-linear buckets (16 per
// power of two, about 6% wide), no allocation when recording.
package hist

import "math/bits"

const sub = 16

// H counts values (nanoseconds) in buckets.
type H struct {
	counts [64 * sub]uint64
	n      uint64
}

func bucket(v int64) int {
	if v < sub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // v in [2^e, 2^(e+1)), e >= 4
	s := int(v>>(e-4)) & (sub - 1)
	return (e-3)*sub + s
}

// low returns the smallest value of bucket i and its width.
func low(i int) (int64, int64) {
	if i < sub {
		return int64(i), 1
	}
	e := i/sub + 3
	s := i % sub
	return int64(sub+s) << (e - 4), int64(1) << (e - 4)
}

// Record counts one value.
func (h *H) Record(v int64) {
	h.counts[bucket(v)]++
	h.n++
}

// Merge adds o's counts to h.
func (h *H) Merge(o *H) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count returns the number of values recorded.
func (h *H) Count() uint64 { return h.n }

// Quantile returns the value below which a fraction q of the values fall
// (the middle of the bucket it lands in); 0 if nothing was recorded.
func (h *H) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			lo, w := low(i)
			return lo + w/2
		}
	}
	return 0
}
