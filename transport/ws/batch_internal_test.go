package ws

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestBatchLen: a batch takes frames while both bounds hold, brackets and
// commas counted, and always at least the first frame.
func TestBatchLen(t *testing.T) {
	f := func(sizes ...int) [][]byte {
		out := make([][]byte, len(sizes))
		for i, n := range sizes {
			out[i] = []byte(strings.Repeat("x", n))
		}
		return out
	}
	for _, tc := range []struct {
		name                string
		frames              [][]byte
		maxFrames, maxBytes int
		want                int
	}{
		{"one frame", f(10), 64, 1 << 10, 1},
		{"all fit", f(10, 10, 10), 64, 1 << 10, 3},
		{"the count binds", f(10, 10, 10, 10), 2, 1 << 10, 2},
		{"the bytes bind: [10,10] is 23", f(10, 10, 10), 64, 23, 2},
		{"one byte short of the second frame", f(10, 10), 64, 22, 1},
		{"a frame above the bound goes alone", f(100, 10), 64, 50, 1},
		{"a big frame stops a batch", f(10, 100, 10), 64, 50, 1},
		{"count 1 is no batching", f(10, 10), 1, 1 << 10, 1},
	} {
		if got := batchLen(tc.frames, tc.maxFrames, tc.maxBytes); got != tc.want {
			t.Errorf("%s: %d frames, want %d", tc.name, got, tc.want)
		}
	}
}

// TestAppendBatch: the frames, in order, as one JSON array whose length is
// what batchLen counted.
func TestAppendBatch(t *testing.T) {
	frames := [][]byte{[]byte(`{"type":"pong"}`), []byte(`{"a":[1,2]}`), []byte(`{"b":"]"}`)}
	b := appendBatch(nil, frames)
	if want := `[{"type":"pong"},{"a":[1,2]},{"b":"]"}]`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back []json.RawMessage
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(frames) {
		t.Fatalf("not an array of the frames: %v", err)
	}
	for i := range frames {
		if !bytes.Equal(back[i], frames[i]) {
			t.Errorf("frame %d: %s, want %s", i, back[i], frames[i])
		}
	}
	if n := batchLen(frames, 64, len(b)); n != len(frames) {
		t.Errorf("batchLen with the array's own size takes %d, want %d", n, len(frames))
	}
}

// TestBatchDefaults: zero bounds take the documented defaults.
func TestBatchDefaults(t *testing.T) {
	var c Config
	c.defaults()
	if c.MaxBatchFrames != DefaultMaxBatchFrames || c.MaxBatchBytes != DefaultMaxBatchBytes {
		t.Errorf("defaults %d frames, %d bytes; want %d, %d", c.MaxBatchFrames, c.MaxBatchBytes, DefaultMaxBatchFrames, DefaultMaxBatchBytes)
	}
	c = Config{MaxBatchFrames: 3, MaxBatchBytes: 100}
	c.defaults()
	if c.MaxBatchFrames != 3 || c.MaxBatchBytes != 100 {
		t.Errorf("set bounds changed to %d, %d", c.MaxBatchFrames, c.MaxBatchBytes)
	}
}
