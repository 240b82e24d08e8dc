package e2e

import (
	"errors"
	"io/fs"
	"testing"
)

// Which browser is used, and when its absence may be skipped: the rules
// that keep CI from passing without running the browser suite.
func TestFindBrowser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		chromePath string
		installed  []string
		want       string
		wantErr    error // errNoBrowser, or nil
		wantOther  bool  // some other error
	}{
		{"CHROME_PATH wins", "/opt/chrome/chrome", []string{"/opt/chrome/chrome", "/usr/bin/chromium"}, "/opt/chrome/chrome", nil, false},
		{"bad CHROME_PATH is an error, not a skip", "/nope/chrome", []string{"/usr/bin/chromium"}, "", nil, true},
		{"Debian chromium", "", []string{"/usr/bin/chromium", "google-chrome"}, "/usr/bin/chromium", nil, false},
		{"chromium-browser in PATH", "", []string{"chromium-browser"}, "/path/chromium-browser", nil, false},
		{"google-chrome in PATH", "", []string{"google-chrome"}, "/path/google-chrome", nil, false},
		{"nothing installed", "", nil, "", errNoBrowser, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "CHROME_PATH" {
					return tc.chromePath
				}
				return ""
			}
			lookPath := func(name string) (string, error) {
				for _, have := range tc.installed {
					if have == name {
						if name[0] == '/' {
							return name, nil
						}
						return "/path/" + name, nil
					}
				}
				return "", fs.ErrNotExist
			}
			got, err := findBrowserWith(getenv, lookPath)
			switch {
			case tc.wantOther:
				if err == nil || errors.Is(err, errNoBrowser) {
					t.Fatalf("got %q, %v; want a configuration error", got, err)
				}
			case !errors.Is(err, tc.wantErr) || got != tc.want:
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSkipWithoutBrowserOnlyOutsideCI(t *testing.T) {
	t.Parallel()
	other := errors.New("chromium exited: status 1")
	cases := []struct {
		err  error
		ci   string
		skip bool
	}{
		{errNoBrowser, "", true},
		{errNoBrowser, "false", true},
		{errNoBrowser, "0", true},
		{errNoBrowser, "true", false},
		{errNoBrowser, "1", false},
		{other, "", false},
		{other, "true", false},
	}
	for _, tc := range cases {
		if got := skipWithout(tc.err, ciSet(tc.ci)); got != tc.skip {
			t.Errorf("skipWithout(%v, CI=%q): got %v, want %v", tc.err, tc.ci, got, tc.skip)
		}
	}
}
