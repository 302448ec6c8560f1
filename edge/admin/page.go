package admin

import (
	_ "embed"
	"html/template"
	"net/http"
)

// The stats page is one file with its CSS and JS inline, so it works on an
// edge without internet access and nothing of it can be swapped elsewhere.
//
//go:embed page.html
var pageHTML []byte

//go:embed login.html
var loginHTML string

var loginTmpl = template.Must(template.New("login").Parse(loginHTML))

// pageCSP lets the page run its own inline script and style and talk to this
// endpoint only: stream and app names come from clients, and should one ever
// slip into markup it can neither load nor send anything elsewhere.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	w.Write(pageHTML)
}

func (h *handler) loginPage(w http.ResponseWriter, status int, msg string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	loginTmpl.Execute(w, struct{ Error string }{msg})
}
