package standin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func frame(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

func TestWireRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(&buf)
	in := []*Message{
		{Type: TypeHello, Hello: &Hello{OwnerAddress: "o", WalletAddress: "w", Coefficient: 1000, MaxActive: 2}},
		{Type: TypeDone, ID: 7, Done: &Done{Usage: worker.Usage{PromptTokens: 5}, Adjusted: worker.Adjusted{Total: 5}}},
		{Type: TypeCancel, ID: 9},
	}
	for _, m := range in {
		if err := c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range in {
		got, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.ID != want.ID {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	if got, _ := NewConn(bytes.NewBuffer(frame(`{"type":"done","id":7,"done":{"usage":{"PromptTokens":5},"adjusted":{"Total":5}}}`))).Recv(); got == nil || got.Done.Usage.PromptTokens != 5 {
		t.Errorf("decoded done: %+v", got)
	}
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv at the end: %v, want EOF", err)
	}
}

func TestWireBadFrames(t *testing.T) {
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	for name, tc := range map[string]struct {
		in   []byte
		want error
		text string
	}{
		"oversize":     {in: huge, want: ErrFrameTooLarge},
		"garbage":      {in: frame("\x00\x01garbage"), text: "bad frame"},
		"not object":   {in: frame(`[1,2]`), text: "bad frame"},
		"no type":      {in: frame(`{"id":3}`), text: "without a type"},
		"truncated":    {in: frame(`{"type":"hello"}`)[:10], want: io.ErrUnexpectedEOF},
		"short header": {in: []byte{0, 0}, want: io.ErrUnexpectedEOF},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewConn(bytes.NewBuffer(tc.in)).Recv()
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %v, want it to say %q", err, tc.text)
			}
		})
	}
	// Send refuses a message over MaxFrame and writes nothing.
	var buf bytes.Buffer
	err := NewConn(&buf).Send(&Message{Type: TypeChunk, Chunk: &Chunk{Text: strings.Repeat("x", MaxFrame)}})
	if !errors.Is(err, ErrFrameTooLarge) || buf.Len() != 0 {
		t.Errorf("oversize send: %v, %d bytes written", err, buf.Len())
	}
}
