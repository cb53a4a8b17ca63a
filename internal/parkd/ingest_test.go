package parkd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// ingestFixture is a tenant "hooks" with spaces whose sensors are
// sensorEUI(0..n-1), and a token-mode webhook secret sealed under
// testMasterKey, made through the same stores parkd uses.
type ingestFixture struct {
	admin  *pgxpool.Pool
	tenant uuid.UUID
	token  string
}

func sensorEUI(i int) string { return fmt.Sprintf("b0%014x", i) }

func newIngestFixture(t *testing.T, db *pgtest.DB, spaces int) *ingestFixture {
	t.Helper()
	ctx := context.Background()
	f := &ingestFixture{admin: db.AdminPool(t), tenant: uuid.New()}
	site := uuid.New()
	if _, err := f.admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, 'Hooks', 'hooks')`, f.tenant); err != nil {
		t.Fatal(err)
	}
	// The slug's look-up row, which webhooks find the tenant by.
	if _, err := f.admin.Exec(ctx, `insert into tenant_slugs (slug, tenant_id) values ('hooks', $1)`, f.tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'Lot', 'UTC')`, f.tenant, site); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code, sensor_eui)
		select $1, gen_random_uuid(), $2, 'S' || i, 'b0' || lpad(to_hex(i), 14, '0') from generate_series(0, $3 - 1) i`,
		f.tenant, site, spaces); err != nil {
		t.Fatal(err)
	}
	mk, err := ParseMasterKey(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	kr := &ingest.Keyring{Current: int(mk.Version), Keys: map[int][]byte{int(mk.Version): []byte(mk.Key)}}
	st := ingest.NewStore(tenancy.NewStore(db.ServerPool(t, 2)), ingest.StoreOptions{Keyring: kr})
	_, f.token, err = st.SecretRotate(ctx, &ingest.SecretRotateParams{TenantID: f.tenant, Mode: ingest.ModeToken, Actor: "operator:test"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func postUplink(client *http.Client, base, token, body string) (int, string, error) {
	req, err := http.NewRequest("POST", base+"/api/v1/webhooks/uplink/hooks", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestServeIngest: parkd serve wires the webhook routes to the writer; a
// stored uplink moves its space; a graceful stop drains.
func TestServeIngest(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	f := newIngestFixture(t, db, 2)
	p := start(t, []string{"serve"}, serveEnv(db.ServerURL), time.Minute)

	for _, c := range []struct{ eui, want string }{
		{sensorEUI(0), `{"status":"stored"}`},
		{sensorEUI(0), `{"status":"duplicate"}`},
		{"c0ffee0000000001", `{"status":"orphan"}`},
	} {
		code, body, err := postUplink(http.DefaultClient, p.base, f.token, `{"dev_eui":"`+c.eui+`","f_cnt":7,"id":"m1","occupied":true}`)
		if err != nil || code != 200 || strings.TrimSpace(body) != c.want {
			t.Fatalf("uplink of %s: %d %s %v, want %s", c.eui, code, body, err, c.want)
		}
	}
	if code, _, _ := postUplink(http.DefaultClient, p.base, "whtok_"+strings.Repeat("A", 43), `{"dev_eui":"`+sensorEUI(0)+`","f_cnt":8}`); code != 401 {
		t.Fatalf("a made-up token: %d", code)
	}
	var state string
	if err := f.admin.QueryRow(context.Background(), `select state from spaces where sensor_eui = $1`, sensorEUI(0)).Scan(&state); err != nil || state != "occupied" {
		t.Fatalf("space state %q (%v)", state, err)
	}
	if code, body := get(t, p.base+"/metrics"); code != 200 || !strings.Contains(body, `park_uplinks_total{result="stored",source="generic"} 1`) ||
		!strings.Contains(body, "park_ingest_batch_rows") || !strings.Contains(body, `park_orphan_devices{status="new"} 1`) {
		t.Fatalf("metrics: %d\n%s", code, body)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.log)
	}
	if strings.Contains(p.log.String(), f.token) || strings.Contains(p.log.String(), f.token[len("whtok_"):]) {
		t.Fatal("the webhook secret is in the log")
	}
}

// TestServeIngestSurvivesSIGKILL sends uplinks from many clients to a
// parkd process and kills it with SIGKILL in the middle: every reading it
// acknowledged must be in the database (a 2xx goes out only after COMMIT).
func TestServeIngestSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	f := newIngestFixture(t, db, 50)

	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	for k, v := range serveEnv(db.ServerURL) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := newLogWatcher()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var base string
	select {
	case addr := <-logs.listening:
		base = "http://" + addr
	case <-time.After(2 * time.Minute):
		t.Fatalf("parkd did not listen; log:\n%s", logs)
	}

	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("c%d-%d", c, i)
				body := fmt.Sprintf(`{"dev_eui":"%s","f_cnt":%d,"id":"%s","occupied":%v}`, sensorEUI((c*7+i)%50), i, id, i%2 == 0)
				code, resp, err := postUplink(client, base, f.token, body)
				if err != nil {
					return // the server is gone
				}
				if code == 200 && strings.Contains(resp, `"stored"`) {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for n.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	_ = cmd.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 100 {
		t.Fatalf("only %d uplinks acknowledged before the kill; log:\n%s", len(acked), logs)
	}
	var missing []string
	if err := f.admin.QueryRow(context.Background(),
		`select coalesce(array_agg(k), '{}') from unnest($1::text[]) k
		  where not exists (select 1 from sensor_readings r where r.tenant_id = $2 and r.msg_key = k)`,
		acked, f.tenant).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged readings are not in the database: %v", len(missing), len(acked), missing[:min(10, len(missing))])
	}
	t.Logf("%d acknowledged readings, all stored", len(acked))
}
