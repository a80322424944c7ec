package ws

import "testing"

// The node's session cap leaves descriptors to everything else, even
// under a low open-file limit (an outside probe noted that the first
// formula, at least 1,024, left nothing under a limit of 1,024).
func TestMaxSessionsForLimit(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{
		{1024, 768},
		{4096, 3072},
		{20000, 20000 - DescriptorReserve},
		{1 << 20, 1<<20 - DescriptorReserve},
		{2, 2},
	} {
		if got := maxSessionsForLimit(tc.limit); got != tc.want {
			t.Errorf("limit %d: cap %d, want %d", tc.limit, got, tc.want)
		}
	}
}
