package format

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"5GB": 5_000_000_000, "500MB": 500_000_000, "2GiB": 2 << 30, "1.5kb": 1500,
		"100": 100, "10 MiB": 10 << 20, "7b": 7, "3TB": 3_000_000_000_000,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "lots", "-5MB", "0", "0.1", "1e30GB", "NaN"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
