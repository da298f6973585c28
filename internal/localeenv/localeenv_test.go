package localeenv

import "testing"

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LANG": "C.UTF-8"}, "en"},
		{map[string]string{"LC_ALL": "POSIX.utf8", "LANG": "de_DE.UTF-8"}, "en"},
		{map[string]string{"LANG": "C"}, ""},                                // the toolkit handles plain C itself
		{map[string]string{"LANG": "de_DE.UTF-8"}, ""},                      // a real language is kept
		{map[string]string{"LC_ALL": "fr_FR.UTF-8", "LANG": "C.UTF-8"}, ""}, // LC_ALL wins
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "uk"}, "uk"},      // never overridden
	} {
		env := map[string]string{}
		for k, v := range tc.env {
			env[k] = v
		}
		apply(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
		if env["LANGUAGE"] != tc.want {
			t.Errorf("%v: LANGUAGE = %q, want %q", tc.env, env["LANGUAGE"], tc.want)
		}
	}
}
