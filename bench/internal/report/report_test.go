package report

import (
	"testing"
)

type res struct{ mode string }

func (r *res) ModeName() string { return r.mode }

func TestFormats(t *testing.T) {
	for v, want := range map[float64]string{1: "1.00x", 0.5: "0.50x", 0.0048: "0.0048x", 0: "0x", 2.75: "2.75x", 150: "150x"} {
		if got := Ratio(v); got != want {
			t.Errorf("Ratio(%v) = %q, want %q", v, got, want)
		}
	}
	for n, want := range map[int64]string{-1: "-", 0: "0", 9999: "9999", 12_345: "12k", 6_850_000: "6.85M", 2_500_000_000: "2.50G"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0.25: "250ms", 1.5: "1.50s", 12.34: "12.3s"} {
		if got := Duration(v); got != want {
			t.Errorf("Duration(%v) = %q, want %q", v, got, want)
		}
	}
	if Seconds(0.25) != "0.25s" || TrimFloat(10) != "10" || TrimFloat(2.5) != "2.5" {
		t.Errorf("Seconds %q TrimFloat %q %q", Seconds(0.25), TrimFloat(10), TrimFloat(2.5))
	}
	if Int(-1) != "-" || Int(123456) != "123456" || MiB(3<<19, 1) != "1.5" || MiB(3<<19, 0) != "2" {
		t.Errorf("Int %q %q MiB %q %q", Int(-1), Int(123456), MiB(3<<19, 1), MiB(3<<19, 0))
	}
	if YesNo(true) != "yes" || YesNo(false) != "NO" {
		t.Error("YesNo")
	}
}

func TestFindAndEnv(t *testing.T) {
	rs := []*res{{"native"}, {"offheap"}}
	if Find(rs, "offheap") != rs[1] || Find(rs, "none") != nil {
		t.Error("Find")
	}
	t.Setenv("REPORT_TEST_A", "1")
	t.Setenv("REPORT_TEST_B", "")
	if got := Env(" (env)", "REPORT_TEST_A", "REPORT_TEST_B"); got != ", REPORT_TEST_A=1 (env)" {
		t.Errorf("Env = %q", got)
	}
}

func TestNs(t *testing.T) {
	cases := map[float64]string{0: "0", 350: "350ns", 1580: "1.58µs", 24400: "24.4µs", 229376: "229µs", 10.5e6: "10.5ms", 2.5e9: "2.50s"}
	for in, want := range cases {
		if got := Ns(in); got != want {
			t.Errorf("Ns(%v) = %q, want %q", in, got, want)
		}
	}
}
