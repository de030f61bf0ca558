package hist

import "testing"

func TestBuckets(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v += 1 + v/50 {
		b := bucket(v)
		if b < prev {
			t.Fatalf("bucket(%d) = %d below %d", v, b, prev)
		}
		prev = b
		lo, w := low(b)
		if v < lo || v >= lo+w {
			t.Fatalf("value %d outside its bucket [%d, %d)", v, lo, lo+w)
		}
	}
}

func TestQuantile(t *testing.T) {
	var h H
	for v := int64(1); v <= 1000; v++ {
		h.Record(v * 1000)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 500_000}, {0.99, 990_000}} {
		got := h.Quantile(c.q)
		if got < c.want*94/100 || got > c.want*106/100 {
			t.Errorf("Quantile(%v) = %d, want about %d", c.q, got, c.want)
		}
	}
}
