package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/proto"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

const chromium = "/usr/bin/chromium"

// overflowJS lists the elements whose box reaches past the viewport's width, and the page's
// scroll width: at 390 px nothing may need a horizontal scroll.
const overflowJS = `() => {
  const vw = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.right > vw + 0.5) {
      bad.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '') +
        ' [' + Math.round(r.left) + ',' + Math.round(r.right) + ']');
    }
  }
  return {vw: vw, scrollWidth: document.documentElement.scrollWidth, bad: bad.slice(0, 20)};
}`

// TestBoardInABrowser drives Debian's chromium, headless, against the receiver's web handler on
// a real loopback listener with a real SQLite store, at a phone's 390×844: no element is wider
// than the viewport (every element's box, and the document's scroll width), the runbook link is
// visible, and acknowledge → start → report fixed work by tapping, each followed by its
// confirmation.
func TestBoardInABrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (apt-get install -y chromium): %v", chromium, err)
	}
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	// The fixture's listener is httptest's; this test wants its own, on a loopback port, with the
	// credentials in the URL the browser signs in with.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: f.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + l.Addr().String()

	// A hot miner with a stopped fan and six temperature alerts on its boards, with long labels
	// and a long description that must wrap, and its machine facts and snapshot.
	f.url = base
	for _, body := range browserPayloads() {
		if resp, b := f.do("POST", "/api/v1/alerts", strings.NewReader(body), bearer); resp.StatusCode != 200 {
			t.Fatalf("webhook: %d %s", resp.StatusCode, b)
		}
	}
	ctx := context.Background()
	if err := f.st.SaveFacts(ctx, 1, task.Facts{Model: "Antminer S19j Pro", Firmware: "braiins", Serial: "JYZZ4BCBCJABE0123", MAC: "02:42:ac:11:00:02",
		AskedAt: time.Now()}, time.Now().Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	sn, ok, err := f.st.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		sn = store.Snapshot{TaskID: 1}
		if err := f.st.InTx(ctx, func(tx store.Tx) error {
			return tx.WantEvidence(ctx, 1, &store.Snapshot{Target: "10.1.0.7", Module: "default"}, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	sn.State, sn.TakenAt, sn.Status = store.SnapshotTaken, time.Now(), 200
	sn.Body = "Probe of 10.1.0.7 with module default\n" + strings.Repeat("{\"STATUS\":[{\"STATUS\":\"S\",\"Msg\":\"a-very-long-unbroken-reply-line-", 40) + "\n<script>alert(1)</script>"
	if err := f.st.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	u := launcher.New().Bin(chromium).Headless(true).Leakless(false).
		Set("no-sandbox").Set("disable-gpu").Set("disable-background-networking").Set("disable-component-update").
		Set("disable-sync").Set("no-first-run").UserDataDir(t.TempDir())
	wsURL, err := u.Launch()
	if err != nil {
		t.Fatalf("launch %s: %v", chromium, err)
	}
	t.Cleanup(u.Kill)
	browser := rod.New().ControlURL(wsURL).Timeout(60 * time.Second)
	if err := browser.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = browser.Close() })

	page, err := browser.Page(proto.TargetCreateTarget{})
	if err != nil {
		t.Fatal(err)
	}
	if err := page.SetViewport(&proto.EmulationSetDeviceMetricsOverride{Width: 390, Height: 844, DeviceScaleFactor: 3, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	// Basic auth in the URL is not sent on navigation; the header is.
	if _, err := page.SetExtraHeaders([]string{"Authorization", "Basic YWxpY2U6cHc="}); err != nil { // alice:pw
		t.Fatal(err)
	}

	check := func(what string) {
		t.Helper()
		res, err := page.Eval(overflowJS)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		v := res.Value
		if vw := v.Get("vw").Int(); vw != 390 {
			t.Fatalf("%s: viewport %d px, want 390", what, vw)
		}
		if sw := v.Get("scrollWidth").Int(); sw > 390 {
			t.Errorf("%s: document scrollWidth %d > 390", what, sw)
		}
		if bad := v.Get("bad").Arr(); len(bad) > 0 {
			t.Errorf("%s: elements past the 390 px viewport: %v", what, bad)
		}
	}
	tap := func(selector string) {
		t.Helper()
		el, err := page.Element(selector)
		if err != nil {
			t.Fatalf("find %s: %v", selector, err)
		}
		wait := page.WaitNavigation(proto.PageLifecycleEventNameLoad)
		if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
			t.Fatalf("tap %s: %v", selector, err)
		}
		wait()
	}
	flash := func(want string) {
		t.Helper()
		el, err := page.Timeout(10 * time.Second).Element("#flash")
		if err != nil {
			t.Fatalf("no confirmation after the tap (want %q): %v", want, err)
		}
		txt, _ := el.Text()
		if vis, _ := el.Visible(); !vis || !strings.Contains(txt, want) {
			t.Fatalf("confirmation %q (visible %v), want %q", txt, vis, want)
		}
	}

	if err := page.Navigate(base + "/"); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitLoad(); err != nil {
		t.Fatal(err)
	}
	check("board")
	h, err := page.Element("#task-1 h3")
	if err != nil {
		t.Fatal(err)
	}
	if txt, _ := h.Text(); !strings.Contains(txt, "Antminer S19j Pro at site-a › rack-2 › slot 14: fan 1 stopped") {
		t.Errorf("card title %q", txt)
	}
	rb, err := page.Element("#task-1 a.runbook")
	if err != nil {
		t.Fatal(err)
	}
	if vis, _ := rb.Visible(); !vis {
		t.Error("the runbook link is not visible on the card")
	}

	tap(`#task-1 form[action="/tasks/1/ack"] button`)
	flash("Task #1 acknowledged.")
	check("board after acknowledge")
	tap(`#task-1 form[action="/tasks/1/start"] button`)
	flash("Task #1 started.")

	// The task page: the why, the runbook, the snapshot (collapsed, escaped), then report fixed.
	if err := page.Navigate(base + "/tasks/1"); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitLoad(); err != nil {
		t.Fatal(err)
	}
	check("task page")
	rb, err = page.Element("#runbook")
	if err != nil {
		t.Fatal(err)
	}
	if vis, _ := rb.Visible(); !vis {
		t.Error("the runbook link is not visible on the task page")
	}
	if href, _ := rb.Attribute("href"); href == nil || !strings.HasSuffix(*href, "#minerfanfailure") {
		t.Errorf("runbook link %v", href)
	}
	why, err := page.Elements(".why")
	if err != nil {
		t.Fatal(err)
	}
	if len(why) != 4 { // fan 1; board 0 chip (3 occurrences: one group); board 1 chip; board 2 pcb
		t.Errorf("%d why rows, want 4 (one per part and alert)", len(why))
	}
	if n, _ := page.Elements("script"); len(n) != 1 {
		t.Errorf("%d script elements: the snapshot's <script> was not escaped", len(n))
	}
	sum, err := page.Element("#snapshot summary")
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Click(proto.InputMouseButtonLeft, 1); err != nil {
		t.Fatal(err)
	}
	check("task page with the snapshot open")

	ta, err := page.Element(`form[action="/tasks/1/fixed"] textarea`)
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.Input("replaced fan 1"); err != nil {
		t.Fatal(err)
	}
	tap(`form[action="/tasks/1/fixed"] button`)
	flash("Task #1 reported fixed")
	check("task page verifying")
	if el, err := page.Element(".verify"); err != nil {
		t.Error("no verification time left on the verifying task")
	} else if txt, _ := el.Text(); !strings.Contains(txt, "decided within") {
		t.Errorf("verification line %q", txt)
	}
	d, err := f.st.Detail(ctx, 1, store.DetailQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Task.State != task.Verifying || d.Task.Report != "replaced fan 1" || d.Task.Assignee != "alice" {
		t.Fatalf("after the taps: %s %q %s", d.Task.State, d.Task.Report, d.Task.Assignee)
	}
	// The confirmation is shown once: a reload does not repeat it.
	if err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitLoad(); err != nil {
		t.Fatal(err)
	}
	if has, _, _ := page.Has("#flash"); has {
		t.Error("the confirmation is shown again after a reload")
	}
	t.Logf("browser part took %s", time.Since(start).Round(time.Millisecond))
}

func browserPayloads() []string {
	long := strings.Repeat("averyveryverylonglabelvaluewithoutanyspaces", 4)
	alert := func(name, fp string, labels map[string]string, desc string) string {
		l := map[string]string{"alertname": name, "instance": "10.1.0.7", "job": "cgminer", "site": "site-a", "rack": "rack-2", "slot": "14",
			"severity": "warning", "category": "temperature", "note": long}
		for k, v := range labels {
			l[k] = v
		}
		var parts []string
		for k, v := range l {
			parts = append(parts, fmt.Sprintf("%q:%q", k, v))
		}
		return fmt.Sprintf(`{"status":"firing","labels":{%s},"annotations":{"summary":"s","description":%q,"runbook_url":"https://github.com/minefarm/cgminer-stack/blob/main/rules/RUNBOOK.md#%s"},"startsAt":"2026-11-22T08:0%s:00Z","fingerprint":"%s"}`,
			strings.Join(parts, ","), desc, strings.ToLower(name), fp[:1], fp)
	}
	desc := "Miner 10.1.0.7 (site site-a, rack rack-2): hashboard 0 sensor chip has read 95 °C for 10 minutes " + long
	alerts := []string{
		alert("MinerFanFailure", "1000000000000001", map[string]string{"fan": "1", "reason": "stopped", "category": "fan", "severity": "critical"}, "fan 1 spins at 0 rpm."),
		alert("MinerTemperatureHigh", "2000000000000002", map[string]string{"board": "0", "sensor": "chip"}, desc),
		alert("MinerTemperatureHigh", "3000000000000003", map[string]string{"board": "1", "sensor": "chip"}, desc),
		alert("MinerTemperatureHigh", "4000000000000004", map[string]string{"board": "2", "sensor": "pcb"}, desc),
	}
	// The same board 0 chip problem twice before (occurrences that fired and resolved).
	var old, resolved []string
	for i, fp := range []string{"5000000000000005", "6000000000000006"} {
		a := alert("MinerTemperatureHigh", fp, map[string]string{"board": "0", "sensor": "chip"}, desc)
		a = strings.Replace(a, `"startsAt":"2026-11-22T08:0`+fp[:1]+`:00Z"`, fmt.Sprintf(`"startsAt":"2026-11-21T0%d:00:00Z"`, i+1), 1)
		old = append(old, a)
		r := strings.Replace(a, `"status":"firing"`, `"status":"resolved"`, 1)
		r = strings.Replace(r, `"startsAt"`, fmt.Sprintf(`"endsAt":"2026-11-21T0%d:30:00Z","startsAt"`, i+1), 1)
		resolved = append(resolved, r)
	}
	msg := func(as []string) string {
		return `{"version":"4","status":"firing","receiver":"repair","groupKey":"g","alerts":[` + strings.Join(as, ",") + `]}`
	}
	return []string{msg(old), msg(resolved), msg(alerts)}
}
