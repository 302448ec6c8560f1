package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The page's buttons are only proven by pressing them in a browser: these
// tests drive Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4), which needs
// nothing beyond the standard library.

// browserWait bounds each wait for the page to do something; polls are 1 s
// apart, a busy machine may need many.
const browserWait = 60 * time.Second

type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	toB     *os.File
	fromB   *os.File
	rd      *bufio.Reader
	id      int
	session string
}

func startBrowser(t *testing.T, url string) *browser {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		// Only loopback resolves, so the page can reach nothing else (the rule
		// applies to IP literals too: 127.* must be excluded by name).
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*",
		"--remote-debugging-pipe", url)
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{cmdR, respW} // fd 3: commands in, fd 4: answers out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	respW.Close()
	b := &browser{t: t, cmd: cmd, toB: cmdW, fromB: respR, rd: bufio.NewReader(respR)}
	t.Cleanup(func() {
		cmdW.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		respR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", lastLinesOf(stderr.String(), 20))
		}
	})

	var targets struct {
		TargetInfos []struct{ TargetID, Type string } `json:"targetInfos"`
	}
	// The page target appears once the browser is up.
	deadline := time.Now().Add(browserWait)
	for {
		b.call("", "Target.getTargets", nil, &targets)
		i := slices.IndexFunc(targets.TargetInfos, func(ti struct{ TargetID, Type string }) bool { return ti.Type == "page" })
		if i >= 0 {
			var att struct {
				SessionID string `json:"sessionId"`
			}
			b.call("", "Target.attachToTarget", map[string]any{"targetId": targets.TargetInfos[i].TargetID, "flatten": true}, &att)
			b.session = att.SessionID
			return b
		}
		if time.Now().After(deadline) {
			t.Fatal("chromium shows no page target")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call sends one DevTools command and reads answers until its own, skipping
// events; it fails the test on a protocol error.
func (b *browser) call(session, method string, params any, result any) {
	b.t.Helper()
	if err := b.try(session, method, params, result); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
}

func (b *browser) try(session, method string, params any, result any) error {
	b.id++
	msg := map[string]any{"id": b.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	out, _ := json.Marshal(msg)
	if _, err := b.toB.Write(append(out, 0)); err != nil {
		return err
	}
	b.fromB.SetReadDeadline(time.Now().Add(browserWait))
	for {
		line, err := b.rd.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("reading from chromium: %w", err)
		}
		var ans struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &ans); err != nil {
			return fmt.Errorf("answer %q: %w", line, err)
		}
		if ans.ID != b.id {
			continue // an event, or a late answer
		}
		if ans.Error != nil {
			return fmt.Errorf("%s", ans.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(ans.Result, result)
		}
		return nil
	}
}

// eval runs expr in the page and returns its value as JSON; a thrown
// exception is an error.
func (b *browser) eval(expr string) (json.RawMessage, error) {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.try(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return nil, err
	}
	if e := r.ExceptionDetails; e != nil {
		if e.Exception != nil {
			return nil, fmt.Errorf("%s", e.Exception.Description)
		}
		return nil, fmt.Errorf("%s", e.Text)
	}
	return r.Result.Value, nil
}

func (b *browser) do(expr string) {
	b.t.Helper()
	if _, err := b.eval(expr); err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
}

// waitJS waits until expr is true in the page (errors count as not yet:
// the document may be navigating).
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		v, err := b.eval(expr)
		if err == nil && string(v) == "true" {
			return
		}
		if time.Now().After(deadline) {
			html, _ := b.eval("document.documentElement.outerHTML")
			b.t.Fatalf("waited %v for %s (%s): last %s %v\n%s", browserWait, what, expr, v, err, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor waits until cond holds on the Go side.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", browserWait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPageButtons(t *testing.T) {
	src := newFake()
	srv := httptest.NewServer(NewHandler(src, Options{}))
	defer srv.Close()
	b := startBrowser(t, srv.URL+"/")
	b.waitJS("the server rows", `document.querySelector('tr[data-server="media02"] button[data-action="ready"]') !== null`)

	// Declining the confirmation sends nothing (the handler returns before
	// any fetch, so checking after the next accepted change is enough).
	b.do(`window.confirm = () => false; document.querySelector('tr[data-server="media01"] button[data-action="maint"]').click()`)
	b.do(`window.confirm = () => true; document.querySelector('tr[data-server="media02"] button[data-action="ready"]').click()`)
	waitFor(t, "media02 ready", func() bool { return src.server("bk_rtmp", "media02").State == "ready" })
	if s := src.server("bk_rtmp", "media01").State; s != "ready" {
		t.Fatalf("a declined confirmation changed media01 to %s", s)
	}
	b.waitJS("media02's ready button disabled", `document.querySelector('tr[data-server="media02"] button[data-action="ready"]').disabled &&
		document.querySelector('tr[data-server="media02"] .state').textContent === "ready"`)

	b.do(`document.querySelector('tr[data-session="s4c5d6"] button[data-action="end"]').click()`)
	waitFor(t, "session s4c5d6 ended", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return slices.Equal(src.ended, []string{"s4c5d6"})
	})
	b.waitJS("the ended session's row gone", `document.querySelector('tr[data-session="s4c5d6"]') === null && document.querySelector('tr[data-session="s1a2b3"]') !== null`)

	b.do(`window.prompt = () => " 127.0.0.7 "; document.querySelector('section[data-backend="bk_rtmp"] button[data-action="forget-stick"]').click()`)
	waitFor(t, "the stick entry forgotten", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return !src.sticks["bk_rtmp"][netip.MustParseAddr("127.0.0.7")]
	})
	b.do(`window.prompt = () => "not-an-ip"; document.querySelector('section[data-backend="bk_rtmp"] button[data-action="forget-stick"]').click()`)
	b.waitJS("the bad IP refused", `document.getElementById("toast").textContent.includes("not an IP")`)

	// A refused change shows the API's message instead of failing silently.
	src.mu.Lock()
	src.failWith = fmt.Errorf("pool rebuilding: %w", ErrInvalid)
	src.mu.Unlock()
	b.do(`document.querySelector('tr[data-server="media03"] button[data-action="drain"]').click()`)
	b.waitJS("the error toast", `document.getElementById("toast").classList.contains("show") && document.getElementById("toast").textContent.includes("pool rebuilding")`)

	// An endpoint that stops answering greys the data out: stale numbers
	// must not pass for live ones.
	srv.CloseClientConnections()
	srv.Listener.Close()
	b.waitJS("the page marked stale", `document.body.classList.contains("stale") && document.getElementById("conn").classList.contains("lost")`)
}

func TestPageLoginInBrowser(t *testing.T) {
	src := newFake()
	srv := httptest.NewServer(NewHandler(src, Options{Token: testToken}))
	defer srv.Close()
	b := startBrowser(t, srv.URL+"/")
	b.waitJS("the login form", `document.getElementById("login") !== null`)
	b.do(`document.getElementById("token").value = "wrong"; document.getElementById("login").submit()`)
	b.waitJS("the refusal", `document.getElementById("login-error") !== null && document.getElementById("login-error").textContent.includes("Wrong token")`)
	b.do(fmt.Sprintf(`document.getElementById("token").value = %q; document.getElementById("login").submit()`, testToken))
	b.waitJS("the stats page with data", `document.querySelector('tr[data-session="s1a2b3"] .stream') !== null &&
		document.querySelector('tr[data-session="s1a2b3"] .stream').textContent === "camera-north"`)

	var shot struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	file := filepath.Join(artifactDir(t), "admin-stats-page-signed-in.png")
	if err := os.WriteFile(file, shot.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)

	// The page's own PUT passes the cookie and the origin check.
	b.do(`window.confirm = () => true; document.querySelector('tr[data-server="media01"] button[data-action="drain"]').click()`)
	waitFor(t, "media01 drained", func() bool { return src.server("bk_rtmp", "media01").State == "drain" })

	b.do(`document.getElementById("logout").submit()`)
	b.waitJS("the login form again", `document.getElementById("login") !== null`)
}
