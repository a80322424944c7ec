package openapitest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pb33f/jsonschema/v6"

	"github.com/outrider/outrider/transport/httpapi/openapi"
)

// asyncAPIMeta is the official JSON Schema of AsyncAPI 3.0.0 (README.md
// says where it comes from).
//
//go:embed asyncapi-3.0.0.schema.json
var asyncAPIMeta []byte

const asyncAPIMetaURL = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"

// ValidateAsyncAPI checks doc against the AsyncAPI 3.0.0 JSON Schema.
func ValidateAsyncAPI(doc []byte) error {
	meta, err := jsonschema.UnmarshalJSON(bytes.NewReader(asyncAPIMeta))
	if err != nil {
		return fmt.Errorf("asyncapi meta-schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(asyncAPIMetaURL, meta); err != nil {
		return fmt.Errorf("asyncapi meta-schema: %w", err)
	}
	sch, err := c.Compile(asyncAPIMetaURL)
	if err != nil {
		return fmt.Errorf("asyncapi meta-schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("asyncapi: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("asyncapi: not a valid AsyncAPI 3.0.0 document: %w", err)
	}
	return nil
}

// Frames validates WebSocket frames against the messages of the AsyncAPI
// document (transport/httpapi/openapi's asyncapi.json), with the same
// JSON Schema 2020-12 engine as the HTTP validator, formats asserted.
// Each frame is held to the one message its `type` (and, for events, its
// `event`) names: the document's receive operations are what a client
// sends, its send operations what the node sends. Each is also held to
// the OpenAPI document's unions, ClientFrame and ServerMessage, which
// clients generate their types from. It is safe for concurrent use.
type Frames struct {
	client map[string]message // by frame key
	server map[string]message
	batch  message
	// The OpenAPI document's ClientFrame and ServerMessage.
	clientUnion, serverUnion message
	// errorCodes is the ErrorCode schema's enum.
	errorCodes []string
}

type message struct {
	name   string
	schema *jsonschema.Schema
}

// NewFrames builds a Frames from the embedded AsyncAPI document.
func NewFrames() (*Frames, error) {
	f, err := newFrames(openapi.AsyncAPI())
	if err != nil {
		return nil, err
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapi.Document()))
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "urn:outrider:openapi.json"
	if err := c.AddResource(url, raw); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	for _, u := range []struct {
		m    *message
		name string
	}{{&f.clientUnion, "ClientFrame"}, {&f.serverUnion, "ServerMessage"}} {
		sch, err := c.Compile(url + "#/components/schemas/" + u.name)
		if err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		*u.m = message{name: "openapi.json " + u.name, schema: sch}
	}
	return f, nil
}

// asyncDoc is what Frames reads of the document.
type asyncDoc struct {
	Operations map[string]struct {
		Action   string `json:"action"`
		Messages []struct {
			Ref string `json:"$ref"`
		} `json:"messages"`
	} `json:"operations"`
	Channels map[string]struct {
		Messages map[string]struct {
			Ref string `json:"$ref"`
		}
	} `json:"channels"`
	Components struct {
		Messages map[string]struct {
			Payload struct {
				Ref string `json:"$ref"`
			} `json:"payload"`
		} `json:"messages"`
		Schemas map[string]frameSchema `json:"schemas"`
	} `json:"components"`
}

// frameSchema is what identifies a frame schema: the consts of its type
// and event, or that it is an array (a batch).
type frameSchema struct {
	Type       any   `json:"type"`
	Enum       []any `json:"enum"`
	Properties map[string]struct {
		Const any `json:"const"`
	} `json:"properties"`
}

func (s frameSchema) key() string {
	k, _ := s.Properties["type"].Const.(string)
	if e, ok := s.Properties["event"].Const.(string); ok {
		k += " " + e
	}
	return k
}

const docURL = "urn:outrider:asyncapi.json"

func newFrames(doc []byte) (*Frames, error) {
	var d asyncDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	f := &Frames{client: map[string]message{}, server: map[string]message{}}
	for _, code := range d.Components.Schemas["ErrorCode"].Enum {
		if s, ok := code.(string); ok {
			f.errorCodes = append(f.errorCodes, s)
		}
	}
	var errs []error
	for opName, op := range d.Operations {
		for _, ref := range op.Messages {
			name, err := messageOf(d, ref.Ref)
			if err != nil {
				errs = append(errs, fmt.Errorf("operation %s: %w", opName, err))
				continue
			}
			schemaName, _ := strings.CutPrefix(d.Components.Messages[name].Payload.Ref, "#/components/schemas/")
			fs, ok := d.Components.Schemas[schemaName]
			if !ok {
				errs = append(errs, fmt.Errorf("message %s: payload %q is no schema of the document", name, d.Components.Messages[name].Payload.Ref))
				continue
			}
			sch, err := c.Compile(docURL + "#/components/messages/" + name + "/payload")
			if err != nil {
				errs = append(errs, fmt.Errorf("message %s: %w", name, err))
				continue
			}
			m := message{name: name, schema: sch}
			switch {
			case op.Action == "send" && fs.Type == "array":
				f.batch = m
			case op.Action == "send":
				errs = append(errs, f.add(f.server, fs.key(), m))
			case op.Action == "receive":
				errs = append(errs, f.add(f.client, fs.key(), m))
			default:
				errs = append(errs, fmt.Errorf("operation %s: action %q", opName, op.Action))
			}
		}
	}
	if f.batch.schema == nil {
		errs = append(errs, errors.New("asyncapi: no batch message (an array payload) among the send operations"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// messageOf resolves an operation's message reference
// (#/channels/C/messages/M) to the component message's name.
func messageOf(d asyncDoc, ref string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	if len(parts) != 4 || parts[0] != "channels" || parts[2] != "messages" {
		return "", fmt.Errorf("message reference %q is not #/channels/C/messages/M", ref)
	}
	cm, ok := d.Channels[parts[1]].Messages[parts[3]]
	if !ok {
		return "", fmt.Errorf("message reference %q: no such message", ref)
	}
	name, ok := strings.CutPrefix(cm.Ref, "#/components/messages/")
	if _, exists := d.Components.Messages[name]; !ok || !exists {
		return "", fmt.Errorf("channel message %q is no component message", cm.Ref)
	}
	return name, nil
}

// add keys m by its frame's type (and event); the same message may be
// listed by several operations, two messages may not share a key.
func (f *Frames) add(into map[string]message, key string, m message) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("message %s: its payload has no const type", m.name)
	}
	if old, ok := into[key]; ok && old.name != m.name {
		return fmt.Errorf("messages %s and %s both have the frame %q", old.name, m.name, key)
	}
	into[key] = m
	return nil
}

// ClientMessages and ServerMessages list the names of the messages a
// client sends and the node sends (the batch included), sorted.
func (f *Frames) ClientMessages() []string { return names(f.client) }

// ServerMessages: see ClientMessages.
func (f *Frames) ServerMessages() []string {
	return slices.Sorted(slices.Values(append(names(f.server), f.batch.name)))
}

// ErrorCodes is the document's ErrorCode enum.
func (f *Frames) ErrorCodes() []string { return slices.Clone(f.errorCodes) }

func names(m map[string]message) []string {
	var out []string
	for _, msg := range m {
		out = append(out, msg.name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Client checks a frame a client sends and returns its message's name.
func (f *Frames) Client(frame []byte) (string, error) {
	if f.clientUnion.schema != nil {
		if err := validate(f.clientUnion, frame); err != nil {
			return "", err
		}
	}
	return f.frame(f.client, frame)
}

// Server checks one WebSocket message the node sent — a frame, or a
// batch of frames — and returns the names of the messages it held: the
// batch's first, then its frames'.
func (f *Frames) Server(msg []byte) ([]string, error) {
	if f.serverUnion.schema != nil {
		if err := validate(f.serverUnion, msg); err != nil {
			return nil, err
		}
	}
	if t := bytes.TrimLeft(msg, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := validate(f.batch, msg); err != nil {
			return nil, err
		}
		var frames []json.RawMessage
		if err := json.Unmarshal(msg, &frames); err != nil {
			return nil, err
		}
		out := []string{f.batch.name}
		for i, fr := range frames {
			name, err := f.frame(f.server, fr)
			if err != nil {
				return nil, fmt.Errorf("batch frame %d: %w", i, err)
			}
			out = append(out, name)
		}
		return out, nil
	}
	name, err := f.frame(f.server, msg)
	if err != nil {
		return nil, err
	}
	return []string{name}, nil
}

func (f *Frames) frame(by map[string]message, frame []byte) (string, error) {
	var head struct {
		Type  *string `json:"type"`
		Event *string `json:"event"`
	}
	if err := json.Unmarshal(frame, &head); err != nil {
		return "", fmt.Errorf("frame %s: %w", frame, err)
	}
	if head.Type == nil {
		return "", fmt.Errorf("frame %s: no type", frame)
	}
	key := *head.Type
	if head.Event != nil {
		key += " " + *head.Event
	}
	m, ok := by[key]
	if !ok {
		return "", fmt.Errorf("frame %s: the document has no message for %q", frame, key)
	}
	return m.name, validate(m, frame)
}

func validate(m message, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	if err := m.schema.Validate(v); err != nil {
		return fmt.Errorf("%s %s: %w", m.name, data, err)
	}
	return nil
}
