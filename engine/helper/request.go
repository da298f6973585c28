package helper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Op is one of the helper's operations.
type Op string

// The operations.
const (
	OpBindVFIO  Op = "bind-vfio"
	OpRestore   Op = "restore"
	OpSetCCMode Op = "set-cc-mode"
	OpStatus    Op = "status"
)

// Confidential-computing modes for OpSetCCMode, as nvidia_gpu_tools.py
// names them.
const (
	ModeOn       = "on"
	ModeOff      = "off"
	ModeDevTools = "devtools"
)

// MaxRequestBytes is the largest request the helper reads; a longer one is
// refused unread.
const MaxRequestBytes = 512

// MaxReplyBytes is the largest reply the client reads.
const MaxReplyBytes = 64 << 10

// pciRE is a canonical PCI address: 4-digit domain, bus, device 00-1f,
// function 0-7, lowercase.
var pciRE = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$`)

// Request asks the helper for one operation.
type Request struct {
	Op  Op     `json:"op"`
	PCI string `json:"pci"`
	// Mode is the CC mode for OpSetCCMode (ModeOn, ModeOff, ModeDevTools);
	// empty for every other operation.
	Mode string `json:"mode,omitempty"`
}

// Reply is the helper's answer to one request.
type Reply struct {
	OK bool `json:"ok"`
	// Op, PCI and Mode repeat the request once it was valid; they are
	// empty for a malformed one, whose text is never echoed.
	Op   Op     `json:"op,omitempty"`
	PCI  string `json:"pci,omitempty"`
	Mode string `json:"mode,omitempty"`
	// Refused is true when the request was turned down before anything
	// was touched; Error says why in a sentence.
	Refused bool   `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
	// Done lists the steps carried out, as Step.Describe words them; on
	// failure, those done before it.
	Done []string `json:"done,omitempty"`
	// Status is the answer to OpStatus.
	Status *Status `json:"status,omitempty"`
}

// Refusal is an error that turns a request down before anything was
// touched: malformed, or not allowed on this device.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// IsRefusal reports whether err (or one it wraps) is a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// quote shows untrusted text in a message: Go-quoted (control characters
// and invalid UTF-8 escaped) and cut to a few dozen bytes.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// ValidPCI checks that s is a canonical PCI address such as
// "0000:17:00.0": lowercase, 4-digit domain, device 00-1f, function 0-7.
func ValidPCI(s string) error {
	if pciRE.MatchString(s) {
		return nil
	}
	return refuse("PCI address %s is not in the form 0000:17:00.0 (lowercase domain:bus:device.function)", quote(s))
}

// Validate checks the request's form: a known operation, a canonical PCI
// address, and a mode exactly when the operation takes one. It reads no
// device.
func (r Request) Validate() error {
	switch r.Op {
	case OpBindVFIO, OpRestore, OpStatus:
		if r.Mode != "" {
			return refuse("operation %s takes no mode", r.Op)
		}
	case OpSetCCMode:
		switch r.Mode {
		case ModeOn, ModeOff, ModeDevTools:
		default:
			return refuse("CC mode %s is not one of on, off, devtools", quote(r.Mode))
		}
	default:
		return refuse("unknown operation %s (want bind-vfio, restore, set-cc-mode or status)", quote(string(r.Op)))
	}
	return ValidPCI(r.PCI)
}

// ReadRequest reads one request of at most MaxRequestBytes from r and
// parses it with ParseRequest.
func ReadRequest(r io.Reader) (Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Request{}, fmt.Errorf("read request: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return Request{}, refuse("request is larger than %d bytes", MaxRequestBytes)
	}
	return ParseRequest(data)
}

// ParseRequest parses and validates one request: a single JSON object
// whose only members are "op", "pci" and "mode", each at most once and
// each a string, with nothing after it. Field names are matched exactly.
func ParseRequest(data []byte) (Request, error) {
	if len(data) > MaxRequestBytes {
		return Request{}, refuse("request is larger than %d bytes", MaxRequestBytes)
	}
	if !utf8.Valid(data) {
		return Request{}, refuse("request is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Request{}, refuse("request is not a JSON object")
	}
	var req Request
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Request{}, refuse("request is not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return Request{}, refuse("request field %s is repeated", quote(key))
		}
		seen[key] = true
		var dst *string
		switch key {
		case "op":
			dst = (*string)(&req.Op)
		case "pci":
			dst = &req.PCI
		case "mode":
			dst = &req.Mode
		default:
			return Request{}, refuse("unknown request field %s (want op, pci, mode)", quote(key))
		}
		tok, err = dec.Token()
		if err != nil {
			return Request{}, refuse("request is not valid JSON")
		}
		s, ok := tok.(string)
		if !ok {
			return Request{}, refuse("request field %s must be a string", key)
		}
		*dst = s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Request{}, refuse("request is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, refuse("request has data after the JSON object")
	}
	if seen["mode"] && req.Op != OpSetCCMode && req.Mode == "" {
		// Present but empty: still a mode the operation does not take.
		return Request{}, refuse("operation %s takes no mode", quote(string(req.Op)))
	}
	if !seen["op"] {
		return Request{}, refuse("request has no op")
	}
	if !seen["pci"] {
		return Request{}, refuse("request has no pci address")
	}
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// String is the request in words, e.g. "set-cc-mode 0000:17:00.0 on".
// Meant for valid requests.
func (r Request) String() string {
	return strings.TrimSpace(strings.Join([]string{string(r.Op), r.PCI, r.Mode}, " "))
}

// ParseReply parses the helper's reply, refusing unknown fields.
func ParseReply(data []byte) (Reply, error) {
	if len(data) > MaxReplyBytes {
		return Reply{}, fmt.Errorf("helper reply is larger than %d bytes", MaxReplyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rep Reply
	if err := dec.Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("helper reply: %w", err)
	}
	if dec.More() {
		return Reply{}, errors.New("helper reply: data after the JSON object")
	}
	return rep, nil
}
