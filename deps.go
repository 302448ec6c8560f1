//go:build tools

package tools

import (
	_ "github.com/hashicorp/golang-lru/v2/expirable"
	_ "github.com/pires/go-proxyproto"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/valyala/fasthttp"
	_ "github.com/yutopp/go-rtmp"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sys/unix"
)
