package admin

import (
	"bytes"
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
	// same-origin, not no-referrer: with no-referrer a form post's Origin
	// is "null" and the sign-out could not be told from a foreign page's.
	w.Header().Set("Referrer-Policy", "same-origin")
}

// pageSignedIn is the page for a browser signed in with the cookie: the
// same, with a sign-out button (a page opened without a token has nobody to
// sign out).
var pageSignedIn = bytes.Replace(pageHTML, []byte("<!--signout-->"),
	[]byte(`<form method="post" action="/logout" id="logout"><button type="submit">sign out</button></form>`), 1)

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if r.Context().Value(viaKey{}) == viaCookie {
		w.Write(pageSignedIn)
		return
	}
	w.Write(pageHTML)
}

func (h *handler) loginPage(w http.ResponseWriter, status int, msg string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	loginTmpl.Execute(w, struct{ Error string }{msg})
}
