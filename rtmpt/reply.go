package rtmpt

import "github.com/valyala/fasthttp"

const contentTypeFCS = "application/x-fcs"

// writeReply sets a tunnel reply: the given status, the headers every RTMPT
// client expects, and a body with an explicit Content-Length.
//
// What reaches the wire (checked byte for byte in reply_test.go): the status
// line "HTTP/1.1 <code> <text>" (librtmp needs exactly "HTTP/1.1 200 "),
// "Content-Type: application/x-fcs" (HaishinKit compares it exactly),
// "Content-Length: N" with a space (librtmp finds "Content-" case-
// sensitively, then atoi(ptr+16)), "Cache-Control: no-cache" and
// "Connection: Keep-Alive". fasthttp never chunks a body set with SetBody,
// and the server is built without its default Server and Date headers.
func writeReply(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.Response.SetStatusCode(status)
	h := &ctx.Response.Header
	h.SetContentType(contentTypeFCS)
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	// When the request asked to close (HTTP/1.0 without keep-alive, or
	// "Connection: close"), fasthttp writes "Connection: close" itself; a
	// Keep-Alive line beside it would contradict it.
	if !ctx.Request.Header.ConnectionClose() {
		h.Set(fasthttp.HeaderConnection, "Keep-Alive")
	}
	ctx.Response.SetBodyRaw(body)
}

// writeHTTPError answers a request that is not RTMPT at all: a plain text
// error, no session touched.
func writeHTTPError(ctx *fasthttp.RequestCtx, status int) {
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(fasthttp.StatusMessage(status) + "\n")
}
