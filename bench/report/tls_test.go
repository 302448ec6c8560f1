package main

import (
	"strings"
	"testing"
)

func TestTLSTable(t *testing.T) {
	in := "metric\tpath\tvalue\n" +
		"throughput_gbps\tedge-rtmp\t4\n" +
		"throughput_gbps\thaproxy-tls\t1\n" +
		"throughput_gbps\tedge-rtmps\t2\n" +
		"connect_p50_ms\thaproxy-tls\t3\n" +
		"connect_p50_ms\tedge-rtmps\tnan\n" +
		"sessions_per_s\thaproxy\t900\n"
	r, err := parseResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	md := markdown(r, nil)
	for _, want := range []string{
		"## TLS (rtmps://)",
		"| Relay throughput, aggregate (Gbit/s) | higher | 1 | 2 | 2.00× | 0.50× |",
		"| Connect time p50 (ms) | lower | 3 | n/a | n/a | n/a |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// A row no TLS path measured stays out of the TLS table.
	tls := md[strings.Index(md, "## TLS"):]
	if strings.Contains(tls, "Session rate") {
		t.Errorf("TLS table shows a row without TLS values:\n%s", tls)
	}

	// A run without TLS paths has no TLS section.
	r, err = parseResults(strings.NewReader("throughput_gbps\thaproxy\t1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if md := markdown(r, nil); strings.Contains(md, "TLS") {
		t.Errorf("TLS section without TLS values:\n%s", md)
	}
}
