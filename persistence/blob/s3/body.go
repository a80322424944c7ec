package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/outrider/outrider/persistence/blob"
)

// Errors of exactReader, beside the source's own.
var (
	errBodyLong  = fmt.Errorf("%w: more bytes than announced", blob.ErrSizeMismatch)
	errBodyShort = fmt.Errorf("%w: fewer bytes than announced", blob.ErrSizeMismatch)
)

// maxEmptyReads bounds how often checkEOF accepts (0, nil) from a reader
// before giving up, as io.ReadAll's callers do via io.ErrNoProgress.
const maxEmptyReads = 100

// exactReader is Put's request body: it passes on exactly left bytes of
// r and fails instead of delivering the last of them unless r is then at
// EOF. The HTTP request therefore never carries a complete body unless r
// held exactly the announced size, and the server, which only commits a
// PUT whose body matched its Content-Length, keeps the previous object.
//
// It also fails once ctx is done, so a cancelled Put stops sending, and
// remembers the first failure so Put can report it whatever the
// transport made of it.
//
// Concurrency: the HTTP client reads it on its own goroutine, which may
// outlive PutObject (net/http may still be writing the body when the
// server's answer arrives). mu, held for the whole of each Read, guards
// every field; finish takes it, so once finish returns r is never read
// again and Put may return.
type exactReader struct {
	ctx context.Context
	r   io.Reader

	mu   sync.Mutex
	left int64 // bytes still to deliver
	err  error // first failure; sticky
	done bool  // finish was called
}

// errFinished is what Read answers after finish.
var errFinished = errors.New("read body: Put has returned")

// finish stops all further reads of r and returns the first failure, if
// any.
func (e *exactReader) finish() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done = true
	return e.err
}

func (e *exactReader) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return 0, errFinished
	}
	if e.err != nil {
		return 0, e.err
	}
	if err := e.ctx.Err(); err != nil {
		return 0, e.fail(err)
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err != nil && err != io.EOF:
		return 0, e.fail(&readError{err})
	case e.left == 0:
		// Hold back the final bytes until r proves it has no more.
		if err := e.checkEOF(); err != nil {
			return 0, err
		}
		return n, nil
	case err == io.EOF:
		return 0, e.fail(fmt.Errorf("%w: %d bytes missing", errBodyShort, e.left))
	}
	return n, nil
}

// checkEOF reads one byte more than announced: it must find EOF. The
// caller holds mu (or is alone with e, before the request starts).
func (e *exactReader) checkEOF() error {
	var b [1]byte
	for range maxEmptyReads {
		n, err := e.r.Read(b[:])
		switch {
		case n > 0:
			return e.fail(errBodyLong)
		case err == io.EOF:
			return nil
		case err != nil:
			return e.fail(&readError{err})
		}
	}
	return e.fail(&readError{io.ErrNoProgress})
}

func (e *exactReader) fail(err error) error {
	e.err = err
	return err
}

// readError is a failure of the caller's reader, as opposed to one of
// the server or the network.
type readError struct{ err error }

func (e *readError) Error() string { return "read body: " + e.err.Error() }

func (e *readError) Unwrap() error { return e.err }
