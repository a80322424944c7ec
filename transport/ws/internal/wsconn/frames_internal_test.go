package wsconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawFrame encodes one client frame: masked unless told otherwise, with
// the length in the form its size asks for (or the 64-bit form when
// long is set).
type rawFrame struct {
	fin      bool
	rsv, op  byte
	unmasked bool
	long     bool
	payload  []byte
}

func (f rawFrame) bytes() []byte {
	var b bytes.Buffer
	b0 := f.op | f.rsv<<4
	if f.fin {
		b0 |= 0x80
	}
	b.WriteByte(b0)
	mask := byte(0x80)
	if f.unmasked {
		mask = 0
	}
	n := len(f.payload)
	switch {
	case f.long:
		b.WriteByte(mask | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	case n > 65535:
		b.WriteByte(mask | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	case n > 125:
		b.WriteByte(mask | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(mask | byte(n))
	}
	p := bytes.Clone(f.payload)
	if !f.unmasked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		b.Write(key[:])
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	b.Write(p)
	return b.Bytes()
}

type got struct {
	op      byte
	payload string
}

func TestFrameReader(t *testing.T) {
	text := func(s string) rawFrame { return rawFrame{fin: true, op: OpText, payload: []byte(s)} }
	big := bytes.Repeat([]byte("x"), 300)
	for _, tc := range []struct {
		name   string
		frames []rawFrame
		want   []got // what next returns, frame by frame, before err
		code   int   // the close code of the error that ends the stream (0: io.EOF)
	}{
		{name: "text", frames: []rawFrame{text(`{"type":"ping"}`)}, want: []got{{OpText, `{"type":"ping"}`}}},
		{name: "binary", frames: []rawFrame{{fin: true, op: OpBinary, payload: []byte{0, 1, 2}}}, want: []got{{OpBinary, "\x00\x01\x02"}}},
		{name: "empty text", frames: []rawFrame{text("")}, want: []got{{OpText, ""}}},
		{name: "16-bit length", frames: []rawFrame{{fin: true, op: OpText, payload: big}}, want: []got{{OpText, string(big)}}},
		{name: "64-bit length form", frames: []rawFrame{{fin: true, op: OpText, long: true, payload: []byte("hi")}}, want: []got{{OpText, "hi"}}},
		{
			name: "fragments with a ping between",
			frames: []rawFrame{
				{op: OpText, payload: []byte(`{"type"`)},
				{fin: true, op: OpPing, payload: []byte("p")},
				{op: OpContinuation, payload: []byte(`:"pi`)},
				{fin: true, op: OpContinuation, payload: []byte(`ng"}`)},
			},
			want: []got{{0, ""}, {OpPing, "p"}, {0, ""}, {OpText, `{"type":"ping"}`}},
		},
		{name: "pong and close", frames: []rawFrame{{fin: true, op: OpPong}, {fin: true, op: OpClose, payload: []byte{0x03, 0xe8}}},
			want: []got{{OpPong, ""}, {OpClose, "\x03\xe8"}}},
		{name: "unmasked", frames: []rawFrame{{fin: true, op: OpText, unmasked: true, payload: []byte("x")}}, code: StatusProtocolError},
		{name: "reserved bit", frames: []rawFrame{{fin: true, rsv: 4, op: OpText, payload: []byte("x")}}, code: StatusProtocolError},
		{name: "unknown data opcode", frames: []rawFrame{{fin: true, op: 0x3}}, code: StatusProtocolError},
		{name: "unknown control opcode", frames: []rawFrame{{fin: true, op: 0xB}}, code: StatusProtocolError},
		{name: "fragmented ping", frames: []rawFrame{{op: OpPing}}, code: StatusProtocolError},
		{name: "ping over 125 bytes", frames: []rawFrame{{fin: true, op: OpPing, payload: big[:126]}}, code: StatusProtocolError},
		{name: "continuation first", frames: []rawFrame{{fin: true, op: OpContinuation, payload: []byte("x")}}, code: StatusProtocolError},
		{name: "new message inside a fragmented one", frames: []rawFrame{{op: OpText, payload: []byte("a")}, text("b")},
			want: []got{{0, ""}}, code: StatusProtocolError},
		{name: "over the limit", frames: []rawFrame{{fin: true, op: OpText, payload: bytes.Repeat([]byte("y"), 513)}}, code: StatusMessageTooBig},
		{name: "fragments over the limit", frames: []rawFrame{{op: OpText, payload: big}, {fin: true, op: OpContinuation, payload: big}},
			want: []got{{0, ""}}, code: StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stream []byte
			for _, f := range tc.frames {
				stream = append(stream, f.bytes()...)
			}
			fr := FrameReader{Limit: 512}
			br := bufio.NewReaderSize(bytes.NewReader(stream), 64)
			var seen []got
			var err error
			for {
				var op byte
				var p []byte
				op, p, err = fr.Next(br)
				if err != nil {
					break
				}
				seen = append(seen, got{op, string(p)})
			}
			require.Equal(t, tc.want, seenOrNil(seen))
			if tc.code == 0 {
				require.ErrorIs(t, err, io.EOF)
				return
			}
			var fe *FrameError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.code, fe.Code, fe.Reason)
		})
	}
}

func seenOrNil(s []got) []got {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestFrameReaderTruncatedFrame(t *testing.T) {
	f := rawFrame{fin: true, op: OpText, payload: []byte("hello")}.bytes()
	for cut := 1; cut < len(f); cut++ {
		fr := FrameReader{Limit: 512}
		_, _, err := fr.Next(bufio.NewReader(bytes.NewReader(f[:cut])))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
	}
}

func TestFrameReaderOutOfRangeLength(t *testing.T) {
	f := []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	fr := FrameReader{Limit: 512}
	_, _, err := fr.Next(bufio.NewReader(bytes.NewReader(f)))
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, StatusProtocolError, fe.Code)
}

func TestUnmaskMatchesTheByteByByteRule(t *testing.T) {
	key := [4]byte{1, 0x80, 0xff, 0x42}
	for n := 0; n < 40; n++ {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		want := bytes.Clone(p)
		for i := range want {
			want[i] ^= key[i%4]
		}
		unmask(p, key)
		require.Equal(t, want, p, "length %d", n)
	}
}

func TestCloseCode(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		code    int
		ok      bool
	}{
		{nil, 1005, true},
		{[]byte{0x03}, 0, false},
		{[]byte{0x03, 0xe8}, 1000, true},
		{[]byte{0x03, 0xe9, 'b', 'y', 'e'}, 1001, true},
		{[]byte{0x03, 0xed}, 1005, false}, // 1005 is never sent
		{[]byte{0x0f, 0xa1}, 4001, true},
		{[]byte{0x00, 0x10}, 16, false},
	} {
		code, ok := CloseCode(tc.payload)
		require.Equal(t, tc.ok, ok, "%x", tc.payload)
		if ok {
			require.Equal(t, tc.code, code, "%x", tc.payload)
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes to the frame reader: it must
// never panic, never return a message over its Limit, and end every
// stream with an error.
func FuzzFrameReader(f *testing.F) {
	f.Add(rawFrame{fin: true, op: OpText, payload: []byte(`{"type":"ping"}`)}.bytes())
	f.Add(append(rawFrame{op: OpText, payload: []byte("ab")}.bytes(), rawFrame{fin: true, op: OpContinuation, payload: []byte("c")}.bytes()...))
	f.Add(rawFrame{fin: true, op: OpClose, payload: []byte{3, 232}}.bytes())
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := FrameReader{Limit: 256}
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		for i := 0; ; i++ {
			op, p, err := fr.Next(br)
			if err != nil {
				var fe *FrameError
				if !errors.As(err, &fe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if int64(len(p)) > fr.Limit {
				t.Fatalf("message of %d bytes over the %d Limit", len(p), fr.Limit)
			}
			if op&0x8 != 0 && len(p) > MaxControlPayload {
				t.Fatalf("control frame of %d bytes", len(p))
			}
			if i > len(data) {
				t.Fatalf("more frames than bytes")
			}
		}
	})
}
