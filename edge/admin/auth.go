package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

// A browser cannot add an Authorization header to the page it navigates to,
// so with a token set an unauthorized GET / answers a small login form; its
// POST /login sets an HttpOnly cookie and the page's own fetch calls carry
// it. Scripts and curl use the Bearer header. The cookie holds a value
// derived from the token, not the token itself, so a leaked cookie does not
// hand out the API token; changing the token invalidates every cookie.

// CookieName is the stats page's login cookie.
const CookieName = "rtmp_edge_admin"

type authVia int

// viaKey holds, in a request's context, how it was authorized.
type viaKey struct{}

const (
	viaNone authVia = iota
	viaBearer
	viaCookie
)

func cookieValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("rtmp-edge admin page cookie v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares in constant time, so response timing does not reveal how
// much of a guess was right.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (h *handler) authorized(r *http.Request) (authVia, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, cred, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(cred), h.token) {
			return viaBearer, true
		}
		// A wrong header is an answer, not a reason to try the cookie.
		return viaNone, false
	}
	if c, err := r.Cookie(CookieName); err == nil && equal(c.Value, h.cookie) {
		return viaCookie, true
	}
	return viaNone, false
}

// sameOrigin tells whether a cookie-authenticated change comes from a page
// of this endpoint (SameSite=Strict already keeps the cookie off cross-site
// requests; this is the second lock). Browsers say where a request comes
// from in Sec-Fetch-Site; older ones only in Origin, which is "null" for
// some form posts. A request with neither is not from a browser page.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && u.Host == r.Host
}

func (h *handler) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="rtmp-edge admin"`)
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.loginPage(w, http.StatusUnauthorized, "")
		return
	}
	writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token>")
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if h.token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.loginPage(w, http.StatusBadRequest, "Unreadable form.")
		return
	}
	if !equal(r.PostForm.Get("token"), h.token) {
		h.log.Warn("admin: login failed", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtmp-edge admin"`)
		h.loginPage(w, http.StatusUnauthorized, "Wrong token.")
		return
	}
	h.log.Info("admin: login", "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    h.cookie,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
