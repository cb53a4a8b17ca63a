package parkd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// rssTargetMiB is the most resident memory parkd may peak at under either
// load (issue 12).
const rssTargetMiB = 150

// buildParkd builds the parkd binary into a temporary directory, as make
// build does, and returns its path.
func buildParkd(b *testing.B) string {
	b.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(b.TempDir(), "parkd")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/parkhq/park/cmd/parkd")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build parkd: %v\n%s", err, msg)
	}
	return out
}

// parkdProcess is parkd serve running as its own process.
type parkdProcess struct {
	cmd  *exec.Cmd
	base string        // http://host:port
	done chan error    // cmd.Wait's result
	logs chan struct{} // closed when its log has been read to the end
}

// startParkd runs bin serve with the environment e (and nothing else of
// this process's but PATH, HOME and any GOGC, GOMEMLIMIT or GOMAXPROCS, so
// the settings are the ones stated), waits for its "listening" log line and
// reads the rest of its log (a line per request) as a log collector would.
func startParkd(b *testing.B, bin string, e env) *parkdProcess {
	b.Helper()
	cmd := exec.Command(bin, "serve")
	for _, k := range []string{"PATH", "HOME", "GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &parkdProcess{cmd: cmd, done: make(chan error, 1), logs: make(chan struct{})}
	addr := make(chan string, 1)
	head := &syncWriter{} // the log up to the listening line, for errors
	go func() {
		defer close(p.logs)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		listening := false
		for !listening && sc.Scan() {
			fmt.Fprintf(head, "%s\n", sc.Bytes())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				listening = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-p.logs
		p.done <- cmd.Wait()
	}()
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.done:
		b.Fatalf("parkd exited before listening: %v\n%s", err, head.String())
	case <-time.After(time.Minute):
		b.Fatalf("parkd not listening after a minute:\n%s", head.String())
	}
	return p
}

// peakRSS reads the process's peak resident set (VmHWM) in MiB.
func (p *parkdProcess) peakRSS(b *testing.B) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				b.Fatalf("VmHWM line %q", line)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// stop sends SIGTERM and fails unless parkd exits 0 within a minute, as
// a graceful shutdown must.
func (p *parkdProcess) stop(b *testing.B) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			b.Fatalf("parkd after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		b.Fatal("parkd did not stop within a minute of SIGTERM")
	}
}

// chirpStackUp is a ChirpStack v4 "up" event as a deployment sends it (two
// gateways, a decoded object), about 1.2 KB; the verbs are filled per
// request: deduplicationId, time, deviceName, devEui, fCnt, occupied, the
// two gateways' nsTime.
const chirpStackUp = `{"deduplicationId":"%s","time":"%s",` +
	`"deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"ChirpStack",` +
	`"applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"Parking",` +
	`"deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"Parking sensor",` +
	`"deviceName":"bay-%d","devEui":"%s","deviceClassEnabled":"CLASS_A","tags":{"site":"north"}},` +
	`"devAddr":"00189440","adr":true,"dr":5,"fCnt":%d,"fPort":2,"confirmed":false,"data":"AQ==",` +
	`"object":{"occupied":%t,"battery":3.61,"temperature":21.5},` +
	`"rxInfo":[{"gatewayId":"0016c001f153a14c","uplinkId":4217106255,"nsTime":"%s","rssi":-97,"snr":7.25,` +
	`"channel":3,"location":{"latitude":52.37,"longitude":4.89},"context":"E3OWOQ==",` +
	`"metadata":{"region_common_name":"EU868","region_config_id":"eu868"},"crcStatus":"CRC_OK"},` +
	`{"gatewayId":"0016c001f153a14d","uplinkId":1044,"nsTime":"%s","rssi":-61,"snr":9.5,"channel":3,` +
	`"context":"E3OWOg==","crcStatus":"CRC_OK"}],` +
	`"txInfo":{"frequency":867100000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":7,"codeRate":"CR_4_5"}}},` +
	`"regionConfigId":"eu868"}`

// BenchmarkParkdRSS runs the parkd binary (built here) as its own process,
// `parkd serve` on the benchmark's durable cluster with the production
// settings, and loads it over loopback HTTP from benchClients keep-alive
// clients: first the list read of BenchmarkAPIList (GET
// /api/v1/spaces?limit=50 with a JWT), then, in a fresh process, ingest
// (ChirpStack uplinks through the token-mode webhook, each a new message
// of one of benchSpaces devices, every answer "stored"). After each load it
// reads the process's peak resident set (VmHWM in /proc/<pid>/status) and
// stops it with SIGTERM, which must exit 0. The summary reports each
// load's peak in MiB against its target (rss_mib@max) and its p50, p99 and
// rate.
func BenchmarkParkdRSS(b *testing.B) {
	d := startBenchDB(b)
	bin := buildParkd(b)
	client := newBenchClient(b)
	type figures struct {
		rss float64
		f   sideFigures
	}
	res := map[string]figures{}
	loads := []struct {
		name  string
		next  func(base string) func(n int64) (*http.Request, error)
		check func(status int, body []byte) error
	}{
		{"read", func(base string) func(int64) (*http.Request, error) {
			url := base + "/api/v1/spaces?limit=" + strconv.Itoa(benchPageLimit)
			h := http.Header{"Authorization": {"Bearer " + d.jwt}}
			return func(int64) (*http.Request, error) {
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err == nil {
					req.Header = h
				}
				return req, err
			}
		}, func(status int, body []byte) error {
			if status != http.StatusOK || !bytes.Contains(body, []byte(`"next_cursor":"`)) {
				return fmt.Errorf("%d %.300s", status, body)
			}
			return nil
		}},
		{"ingest", func(base string) func(int64) (*http.Request, error) {
			url := base + "/api/v1/webhooks/chirpstack/" + benchSlug + "?event=up"
			h := http.Header{"Authorization": {"Bearer " + d.webhook}, "Content-Type": {"application/json"}}
			// One count over every run of the sub-benchmark, so a device's
			// frame counter only grows.
			var seq atomic.Int64
			return func(int64) (*http.Request, error) {
				n := seq.Add(1)
				dev := int(n % benchSpaces)
				ts := time.Now().UTC().Format(time.RFC3339Nano)
				body := fmt.Sprintf(chirpStackUp, uuid.New(), ts, dev, fmt.Sprintf("70B3D57E%08X", dev),
					n/benchSpaces, (n/benchSpaces)%2 == 0, ts, ts)
				req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				if err == nil {
					req.Header = h
				}
				return req, err
			}
		}, func(status int, body []byte) error {
			if status != http.StatusOK || !bytes.Contains(body, []byte(`"stored"`)) {
				return fmt.Errorf("%d %.300s", status, body)
			}
			return nil
		}},
	}
	for _, l := range loads {
		p := startParkd(b, bin, d.serveEnv())
		var f sideFigures
		b.Run(l.name, func(b *testing.B) {
			f = loadRun(b, client, d.cluster.PID(), l.next(p.base), l.check)
		})
		rss := p.peakRSS(b)
		client.CloseIdleConnections()
		p.stop(b)
		res[l.name] = figures{rss: rss, f: f}
	}
	b.Run("summary", func(b *testing.B) {
		for _, l := range loads {
			r := res[l.name]
			b.ReportMetric(r.rss, l.name+"_rss_mib")
			b.ReportMetric(rssTargetMiB, l.name+"_rss_mib@max")
			b.ReportMetric(r.f.rate, l.name+"_req/s")
			b.ReportMetric(r.f.p50, l.name+"_p50_ms")
			b.ReportMetric(r.f.p99, l.name+"_p99_ms")
		}
		b.ReportMetric(loadAvgValue(), "loadavg")
		b.ReportMetric(0, "ns/op")
	})
	b.Logf("parkd serve as its own process: read peak %.1f MiB (%.0f req/s, p50 %.2f ms, p99 %.2f ms); "+
		"ingest peak %.1f MiB (%.0f uplinks/s, p50 %.2f ms, p99 %.2f ms); GOGC %q GOMEMLIMIT %q; load average %s",
		res["read"].rss, res["read"].f.rate, res["read"].f.p50, res["read"].f.p99,
		res["ingest"].rss, res["ingest"].f.rate, res["ingest"].f.p50, res["ingest"].f.p99,
		os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), loadAvg())
}
