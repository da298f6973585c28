package update

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse: Parse either fails with ErrMalformed and a zero Feed, or
// returns a feed that is already normal: encoding it and parsing it again
// gives the same feed, and every artifact it lists has the fields a
// download needs.
func FuzzParse(f *testing.F) {
	f.Add([]byte(testFeed))
	for _, s := range []string{
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00+02:00","app":{"version":"v1.0.0","downloads":[{"os":"Linux","arch":"AMD64","kind":"DEB","url":"https://x/y","sha256":"` + sumX + `","size":1}]}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0-3-gabc1234"}}`,
		`{"schema":2,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"},"images":[{"name":"w","version":"1","url":"http://h/i","sha256":"` + sumX + `","size":9,"image_hash":"` + hashB + `"}]}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"}} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		feed, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !reflect.DeepEqual(feed, Feed{}) {
				t.Fatalf("error %v with a partial feed %+v", err, feed)
			}
			return
		}
		for _, d := range feed.App.Downloads {
			if d.OS == "" || d.Arch == "" || d.Kind == "" || d.URL == "" || len(d.SHA256) != 64 || d.Size <= 0 {
				t.Fatalf("accepted an incomplete download %+v", d)
			}
		}
		for _, im := range feed.Images {
			if im.Name == "" || im.Version == "" || im.URL == "" || len(im.SHA256) != 64 || im.Size <= 0 || im.ImageHash == "" {
				t.Fatalf("accepted an incomplete image %+v", im)
			}
		}
		enc, err := json.Marshal(feed)
		if err != nil {
			t.Fatalf("encoding a parsed feed: %v", err)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("a parsed feed does not parse again: %v\n%s", err, enc)
		}
		if !again.Published.Equal(feed.Published) {
			t.Fatalf("published %v became %v", feed.Published, again.Published)
		}
		again.Published = feed.Published
		if !reflect.DeepEqual(again, feed) {
			t.Fatalf("not normal: parse(encode(feed)) differs\n%+v\n%+v", feed, again)
		}
	})
}
