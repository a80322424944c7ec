// Package openapitest validates HTTP requests and responses against
// Outrider's OpenAPI 3.1 document (transport/httpapi/openapi).
//
// The validator is backed by github.com/pb33f/libopenapi-validator, which
// implements OpenAPI 3.0/3.1/3.2 with a JSON Schema 2020-12 engine (so
// type arrays like ["string","null"], const, dependentRequired and if/then
// are honoured). It is meant for tests and for optional runtime checking.
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi/orderedmap"

	"github.com/outrider/outrider/transport/httpapi/openapi"
)

// Validator checks requests and responses against the embedded document.
// It is safe for concurrent use.
type Validator struct {
	v validator.Validator
}

// NewValidator parses the embedded document, checks it against the
// OpenAPI 3.1 meta-schema and builds a validator. Formats (date-time, date,
// email, uri-reference) are asserted. Security requirements are not
// checked: authentication is the server's business, not the document's.
//
// A response is valid only under a status its operation lists by number:
// a document with a default response or a status range (4XX) is refused,
// because either would pass any status the server answers without saying
// so. Without them the library refuses an unlisted status (its response
// status validation, on unless switched off, which this package never
// does).
func NewValidator() (*Validator, error) {
	return newValidator(openapi.Document())
}

func newValidator(spec []byte) (*Validator, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse document: %w", err)
	}
	if v := doc.GetSpecInfo().SpecFormat; v != "oas3_1" {
		return nil, fmt.Errorf("openapi: document is %q, want OpenAPI 3.1", v)
	}
	v, errs := validator.NewValidator(doc,
		config.WithFormatAssertions(),
		config.WithoutSecurityValidation(),
		config.WithRejectUndeclaredRequestBody(),
	)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi: build model: %w", errors.Join(errs...))
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("openapi: document is not valid OpenAPI 3.1: %w", newError(verrs))
	}
	if err := listsEveryStatus(doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return &Validator{v: v}, nil
}

// listsEveryStatus refuses responses that stand in for statuses the
// operation does not name: a default response, or a range such as 4XX.
func listsEveryStatus(doc libopenapi.Document) error {
	m, err := doc.BuildV3Model()
	if err != nil {
		return fmt.Errorf("build model: %w", err)
	}
	if m.Model.Paths == nil {
		return nil
	}
	var errs []error
	for p := orderedmap.First(m.Model.Paths.PathItems); p != nil; p = p.Next() {
		for o := orderedmap.First(p.Value().GetOperations()); o != nil; o = o.Next() {
			op, name := o.Value(), strings.ToUpper(o.Key())+" "+p.Key()
			if op.Responses == nil {
				continue // the meta-schema has already refused it
			}
			if op.Responses.Default != nil {
				errs = append(errs, fmt.Errorf("%s has a default response: list each status it answers instead", name))
			}
			for c := orderedmap.First(op.Responses.Codes); c != nil; c = c.Next() {
				if _, err := strconv.Atoi(c.Key()); err != nil {
					errs = append(errs, fmt.Errorf("%s lists the status %q: list each status, not a range", name, c.Key()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ValidateRequest checks r's route, path/query/header parameters and JSON
// body against the document. The body is read and restored, so r can still
// be served afterwards. It returns nil or an *Error.
func (v *Validator) ValidateRequest(r *http.Request) error {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return fmt.Errorf("openapi: read request body: %w", err)
		}
		restore := func() { r.Body = io.NopCloser(bytes.NewReader(b)) }
		restore()
		defer restore()
		if len(b) == 0 {
			r.Body = http.NoBody
		}
	}
	if ok, errs := v.v.ValidateHttpRequestSync(r); !ok {
		return newError(errs)
	}
	return nil
}

// ValidateResponse checks a response (status, headers, body) that the server
// sent for r. r is only used to find the operation; its body is not read.
// The Content-Type header must be set whenever there is a body. Beyond the
// document it also checks that 204/304 carry no body and that a
// problem+json body's "status" equals status. It returns nil or an *Error.
func (v *Validator) ValidateResponse(r *http.Request, status int, header http.Header, body []byte) error {
	if header == nil {
		header = http.Header{}
	}
	resp := &http.Response{
		StatusCode:    status,
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header:        header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
	// The request is only used for routing: hand the library a body-less
	// copy so that the caller's body stays untouched.
	rc := r.Clone(r.Context())
	rc.Body = http.NoBody
	if ok, errs := v.v.ValidateHttpResponse(rc, resp); !ok {
		return newError(errs)
	}
	// Checks the library leaves out.
	if (status == http.StatusNoContent || status == http.StatusNotModified) && len(body) > 0 {
		return &Error{Problems: []string{fmt.Sprintf("%d response must have no body, got %d bytes", status, len(body))}}
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == "application/problem+json" {
		var p struct {
			Status int `json:"status"`
		}
		if err := json.Unmarshal(body, &p); err == nil && p.Status != status {
			return &Error{Problems: []string{fmt.Sprintf("problem status %d differs from the HTTP status %d", p.Status, status)}}
		}
	}
	return nil
}

// Error lists what did not conform to the document.
type Error struct {
	// Problems holds one line per failure, with schema details where known.
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "openapi: " + e.Problems[0]
	}
	return fmt.Sprintf("openapi: %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

func newError(errs []*verrors.ValidationError) *Error {
	e := &Error{}
	for _, ve := range errs {
		if ve == nil {
			continue
		}
		msg := ve.Message
		if ve.Reason != "" && ve.Reason != ve.Message {
			msg += ": " + ve.Reason
		}
		for _, sf := range ve.SchemaValidationErrors {
			if sf == nil {
				continue
			}
			loc := sf.FieldPath
			if loc == "" {
				loc = sf.KeywordLocation
			}
			msg += fmt.Sprintf(" [%s: %s]", loc, sf.Reason)
		}
		e.Problems = append(e.Problems, msg)
	}
	if len(e.Problems) == 0 {
		e.Problems = []string{"validation failed"}
	}
	return e
}
