package admin

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
)

// FuzzUpdateServer throws arbitrary bodies at the one route that parses
// one: whatever arrives, the answer is 200 with a valid state and weight in
// range, or a 400 with a JSON error that left the server untouched; never a
// panic, never a 500.
func FuzzUpdateServer(f *testing.F) {
	for _, seed := range []string{
		`{"state":"drain"}`, `{"weight":0}`, `{"state":"maint","weight":256}`, `{}`, ``, `null`, `[]`,
		`{"state":null}`, `{"weight":1e3}`, `{"weight":-0}`, `{"state":"ready"} x`, `{"State":"drain"}`,
		"{\"state\":\"dr\\u0061in\"}", `{"weight":9223372036854775808}`, `{"state":"drain","state":"bogus"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		src := newFake()
		h := NewHandler(src, Options{})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("PUT", "/api/v1/backends/bk_rtmp/servers/media01", bytes.NewReader(body)))
		after := src.server("bk_rtmp", "media01")
		switch rec.Code {
		case 200:
			if !slices.Contains([]string{"ready", "drain", "maint"}, after.State) || after.Weight < 0 || after.Weight > MaxWeight {
				t.Fatalf("accepted %q into %+v", body, after)
			}
		case 400:
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("400 without a JSON error: %q", rec.Body.Bytes())
			}
			if after != newFake().server("bk_rtmp", "media01") {
				t.Fatalf("refused %q but changed the server to %+v", body, after)
			}
		default:
			t.Fatalf("%q: status %d %s", body, rec.Code, rec.Body.Bytes())
		}
	})
}
