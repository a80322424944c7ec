package wsconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The server reads client frames itself (RFC 6455 §5) and leaves the
// writing to gorilla. Owning the read side is what lets an idle session
// hold no goroutine and no read buffer: gorilla's reader keeps both for
// the life of the connection, blocks in the middle of its own state, and
// treats any read error, a timeout included, as the end of the
// connection. Here a frame is read only once the socket is readable, and
// a timeout before its first byte loses nothing.

// Opcodes (RFC 6455 §5.2), as FrameReader.Next returns them.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaxControlPayload is the largest control frame payload (§5.5).
const MaxControlPayload = 125

// Close status codes (RFC 6455 §7.4.1) that the engine itself produces or
// reads: the codes of a FrameError, and CloseCode's answer for a close
// frame without one. The gateway's documented list of the codes it sends
// is transport/ws's closecodes.go.
const (
	StatusProtocolError = 1002
	StatusNoStatus      = 1005
	StatusMessageTooBig = 1009
)

// FrameError is a client frame that breaks the protocol: the connection
// must be closed with Code (StatusProtocolError or StatusMessageTooBig),
// and Reason may be sent with it.
type FrameError struct {
	Code   int
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("websocket frame: %s (close %d)", e.Reason, e.Code)
}

func protocolError(reason string) error {
	return &FrameError{Code: StatusProtocolError, Reason: reason}
}

// FrameReader reads the frames of one client connection and reassembles
// fragmented messages. It holds no buffer between messages, except the
// fragments of a message whose end has not arrived. It is not safe for
// concurrent use: its owner reads one frame at a time (transport/ws holds
// its session's read lock around Next).
type FrameReader struct {
	Limit int64 // largest message payload, fragments included; set before the first Next
	// The message being reassembled: its opcode (0 when none) and the
	// payload so far.
	op   byte
	frag []byte
}

// Next reads one frame from br. It returns a control frame (OpPing,
// OpPong, OpClose) as soon as it arrives, and a data message (OpText,
// OpBinary) once its final fragment has arrived; for a fragment that is
// not final it returns op 0 and no payload. A *FrameError reports a frame
// that must close the session; other errors are the socket's.
func (f *FrameReader) Next(br *bufio.Reader) (op byte, payload []byte, err error) {
	head, err := br.Peek(2)
	if err != nil {
		if len(head) > 0 {
			return 0, nil, noEOF(err)
		}
		return 0, nil, err // at a frame boundary: io.EOF is a clean end
	}
	fin, rsv, op := head[0]&0x80 != 0, head[0]&0x70, head[0]&0x0f
	masked, n := head[1]&0x80 != 0, int64(head[1]&0x7f)
	size := 2
	switch n {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if masked {
		size += 4
	}
	head, err = br.Peek(size)
	if err != nil {
		return 0, nil, noEOF(err)
	}
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(head[2:]))
	case 127:
		u := binary.BigEndian.Uint64(head[2:])
		if u > 1<<62 {
			return 0, nil, protocolError("frame length out of range")
		}
		n = int64(u)
	}
	var key [4]byte
	if masked {
		copy(key[:], head[size-4:])
	}
	if _, err := br.Discard(size); err != nil {
		return 0, nil, noEOF(err)
	}

	switch {
	case rsv != 0:
		return 0, nil, protocolError("reserved bits set without an extension")
	case !masked:
		return 0, nil, protocolError("client frames must be masked")
	}
	control := op&0x8 != 0
	switch {
	case control && op != OpClose && op != OpPing && op != OpPong,
		!control && op != OpContinuation && op != OpText && op != OpBinary:
		return 0, nil, protocolError(fmt.Sprintf("unknown opcode %#x", op))
	case control && (!fin || n > MaxControlPayload):
		return 0, nil, protocolError("control frames must be final and at most 125 bytes")
	case op == OpContinuation && f.op == 0:
		return 0, nil, protocolError("continuation frame without a message to continue")
	case (op == OpText || op == OpBinary) && f.op != 0:
		return 0, nil, protocolError("new message before the last one's final fragment")
	case !control && int64(len(f.frag))+n > f.Limit:
		return 0, nil, &FrameError{Code: StatusMessageTooBig, Reason: "frame too large"}
	}

	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, noEOF(err)
	}
	unmask(payload, key)
	if control {
		return op, payload, nil
	}
	if op != OpContinuation {
		f.op = op
	}
	if !fin {
		f.frag = append(f.frag, payload...)
		return 0, nil, nil
	}
	op = f.op
	if len(f.frag) > 0 {
		payload = append(f.frag, payload...)
	}
	f.op, f.frag = 0, nil
	return op, payload, nil
}

// noEOF reports a connection that ended inside a frame as
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// unmask XORs p with the client's masking key (§5.3).
func unmask(p []byte, key [4]byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// CloseCode reads the status code of a client's close frame payload
// (StatusNoStatus when there is none) and whether the payload is well formed (§5.5.1,
// §7.4).
func CloseCode(payload []byte) (int, bool) {
	if len(payload) == 0 {
		return StatusNoStatus, true
	}
	if len(payload) == 1 {
		return 0, false
	}
	code := int(binary.BigEndian.Uint16(payload))
	valid := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1011 || code >= 3000 && code <= 4999
	return code, valid
}
