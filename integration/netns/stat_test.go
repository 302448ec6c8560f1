package netns

import (
	"errors"
	"strings"
	"testing"
)

// statPageSample is a trimmed /stat page of nginx-rtmp 1.2.2 with a
// publisher, a player and a push relay.
const statPageSample = `<?xml version="1.0" encoding="utf-8" ?>
<?xml-stylesheet type="text/xsl" href="stat.xsl" ?>
<rtmp><nginx_version>1.22.1</nginx_version><server><application><name>live</name><live>
<stream><name>demo</name><time>1200</time>
<client><id>3</id><address>198.18.1.2</address><time>1100</time><flashver>FMLE/3.0 (compatible; Lavf59.27</flashver><dropped>0</dropped><avsync>0</avsync><timestamp>1000</timestamp><publishing/><active/></client>
<client><id>5</id><address>198.18.1.77</address><time>900</time><flashver>LNX 9,0,124,2</flashver><dropped>0</dropped><avsync>0</avsync><timestamp>1000</timestamp><active/></client>
<client><id>4</id><address>ngx-relay</address><time>1000</time><flashver>ngx-local-relay</flashver><dropped>0</dropped><avsync>0</avsync><timestamp>1000</timestamp><active/></client>
<meta><video><width>160</width><height>120</height></video></meta><nclients>3</nclients><publishing/><active/></stream>
<nclients>3</nclients></live></application></server></rtmp>`

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		page    string
		want    []StatClient
		wantErr error
	}{
		{
			name: "publisher, player and relay",
			page: statPageSample,
			want: []StatClient{
				{App: "live", Stream: "demo", Address: "198.18.1.2", FlashVer: "FMLE/3.0 (compatible; Lavf59.27", Publishing: true},
				{App: "live", Stream: "demo", Address: "198.18.1.77", FlashVer: "LNX 9,0,124,2"},
				{App: "live", Stream: "demo", Address: "ngx-relay", FlashVer: "ngx-local-relay"},
			},
		},
		{
			name: "no streams",
			page: `<rtmp><server><application><name>live</name><live><nclients>0</nclients></live></application></server></rtmp>`,
		},
		{
			name:    "too large",
			page:    "<rtmp>" + strings.Repeat(" ", MaxStatBytes) + "</rtmp>",
			wantErr: ErrStatTooLarge,
		},
		{name: "not xml", page: "<html><body>502 Bad Gateway", wantErr: errAny},
		{name: "truncated", page: statPageSample[:len(statPageSample)/2], wantErr: errAny},
		{name: "empty", page: "", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.page))
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d clients %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("client %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// errAny marks a case where any error will do.
var errAny = errors.New("any error")

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statPageSample))
	f.Add([]byte(`<rtmp><server><application><live><stream><client><publishing/></client></stream></live></application></server></rtmp>`))
	f.Add([]byte(`<rtmp><server><application><live><stream><client><address>`))
	f.Fuzz(func(t *testing.T, page []byte) {
		clients, err := ParseStat(page)
		if err != nil && clients != nil {
			t.Fatalf("clients %v returned with error %v", clients, err)
		}
	})
}
