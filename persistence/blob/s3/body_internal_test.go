package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob"
)

// TestExactReaderHoldsBackTheLastByte pins what makes Put atomic: unless
// the source holds exactly size bytes, the request body never reaches
// size bytes, so the server never sees a complete body.
func TestExactReaderHoldsBackTheLastByte(t *testing.T) {
	t.Parallel()
	const size = 100
	boom := errors.New("boom")
	cases := []struct {
		name string
		src  io.Reader
		want error // nil: all size bytes then EOF
	}{
		{"exact", bytes.NewReader(make([]byte, size)), nil},
		{"exact, one byte a read", iotest.OneByteReader(bytes.NewReader(make([]byte, size))), nil},
		{"exact, data with EOF", iotest.DataErrReader(bytes.NewReader(make([]byte, size))), nil},
		{"one byte more", bytes.NewReader(make([]byte, size+1)), blob.ErrSizeMismatch},
		{"one byte more, one byte a read", iotest.OneByteReader(bytes.NewReader(make([]byte, size+1))), blob.ErrSizeMismatch},
		{"one byte less", bytes.NewReader(make([]byte, size-1)), blob.ErrSizeMismatch},
		{"fails after the last byte", io.MultiReader(bytes.NewReader(make([]byte, size)), iotest.ErrReader(boom)), boom},
		{"fails midway", io.MultiReader(bytes.NewReader(make([]byte, 50)), iotest.ErrReader(boom)), boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := &exactReader{ctx: context.Background(), r: c.src, left: size}
			got, err := io.ReadAll(e)
			if c.want == nil {
				require.NoError(t, err)
				require.Len(t, got, size)
				require.NoError(t, e.finish())
				return
			}
			require.ErrorIs(t, err, c.want)
			require.Less(t, len(got), size, "the whole body went out")
			require.ErrorIs(t, e.finish(), c.want)
		})
	}
}

func TestExactReaderStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	e := &exactReader{ctx: ctx, r: bytes.NewReader(make([]byte, 100)), left: 100}
	buf := make([]byte, 10)
	_, err := e.Read(buf)
	require.NoError(t, err)
	cancel()
	_, err = e.Read(buf)
	require.ErrorIs(t, err, context.Canceled)

	// After finish (Put returned) the source is never read again.
	e = &exactReader{ctx: context.Background(), r: iotest.ErrReader(errors.New("read after finish")), left: 100}
	require.NoError(t, e.finish())
	_, err = e.Read(buf)
	require.ErrorIs(t, err, errFinished)
}
