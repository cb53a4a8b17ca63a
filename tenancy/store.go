package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Database roles the Store switches to (DESIGN §2).
const (
	// AppRole is the role every tenant transaction runs as.
	AppRole = "park_app"
	// OpsRole is the role of parkctl's cross-tenant reads.
	OpsRole = "park_ops"
)

// The prologues are the first statements of every transaction the Store
// runs. Both settings are transaction-local (the third argument of
// set_config is is_local): they end with the transaction, so nothing leaks to
// the next user of a pooled connection or of a PgBouncer server connection.
// With PrologueSetConfig (the default) the tenant id is a bind parameter,
// never formatted into SQL; PrologueSetLocal is the one exception
// (setLocalTenant).
//
// set_config('role', …, true) is SET LOCAL ROLE in function form. One
// statement serves both the explicit transactions of InTenantTx and the
// implicit transaction of InTenantBatch, where a SET LOCAL statement would
// work too but makes PostgreSQL log "SET LOCAL can only be used in
// transaction blocks" on every call.
const (
	tenantPrologue = `select set_config('role', 'park_app', true), set_config('app.tenant_id', $1, true)`
	opsPrologue    = `select set_config('role', 'park_ops', true)`
)

// TenantPrologue is how a tenant transaction's prologue sets app.tenant_id,
// the setting every row-level security policy reads (DESIGN §2, §9).
type TenantPrologue string

const (
	// PrologueSetConfig sets it with set_config('app.tenant_id', $1,
	// true), the tenant id a bind parameter. The default, for PostgreSQL
	// (directly or through PgBouncer).
	PrologueSetConfig TenantPrologue = "set_config"
	// PrologueSetLocal sets it with SET LOCAL app.tenant_id = '<uuid>',
	// for Citus: Citus passes a transaction's SET LOCAL on to the workers
	// it reaches (citus.propagate_set_commands = 'local'), but not a
	// set_config. SET takes no bind parameter, so this is the one place a
	// tenant id is written into SQL: a uuid.UUID, printed canonically
	// (setLocalTenant). Batches (InTenantBatch) then run in an explicit
	// transaction, which SET LOCAL needs to take effect without a warning
	// and Citus needs to propagate it.
	PrologueSetLocal TenantPrologue = "set_local"
)

// TenantPrologues lists the valid TenantPrologue values, default first.
func TenantPrologues() []TenantPrologue {
	return []TenantPrologue{PrologueSetConfig, PrologueSetLocal}
}

// setLocalTenant is the statement of PrologueSetLocal that sets the
// tenant. It takes a uuid.UUID, never a string: UUID.String prints 36
// characters of [0-9a-f-] and nothing else, so nothing a caller passes can
// end the literal. It is the only code that writes a tenant id into SQL.
func setLocalTenant(id uuid.UUID) string {
	return "SET LOCAL app.tenant_id = '" + id.String() + "'"
}

// rollbackTimeout bounds the rollback after a failed or panicking
// transaction. The rollback ignores the caller's cancellation so the
// connection can go back to the pool clean; if it still fails, pgx closes the
// connection.
const rollbackTimeout = 5 * time.Second

// Store runs transactions against Park's database as park_app with a tenant
// set, the only way server code reaches tenant data. It is safe for
// concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	prologue TenantPrologue
}

// StoreOption configures a Store made by NewStore.
type StoreOption func(*Store)

// WithTenantPrologue selects how tenant transactions set their tenant:
// PrologueSetConfig (the default) or, on Citus, PrologueSetLocal. Any
// other value panics: it is a programming error, and configuration is
// checked before (see TenantPrologues).
func WithTenantPrologue(p TenantPrologue) StoreOption {
	if !slices.Contains(TenantPrologues(), p) {
		panic(fmt.Sprintf("tenancy: unknown tenant prologue %q", p))
	}
	return func(s *Store) { s.prologue = p }
}

// NewStore returns a Store on pool. The pool's login must be a member of
// park_app (production: the park_server login; see Preflight).
func NewStore(pool *pgxpool.Pool, opts ...StoreOption) *Store {
	s := &Store{pool: pool, prologue: PrologueSetConfig}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Prologue reports how the Store's tenant transactions set their tenant.
func (s *Store) Prologue() TenantPrologue { return s.prologue }

// queueTenantPrologue queues the statements that make the transaction
// park_app acting for tenantID.
func (s *Store) queueTenantPrologue(b *pgx.Batch, tenantID uuid.UUID) {
	if s.prologue == PrologueSetLocal {
		b.Queue(appPrologue)
		b.Queue(setLocalTenant(tenantID))
		return
	}
	b.Queue(tenantPrologue, tenantID.String())
}

// statement returns a prologue of one statement.
func statement(sql string, args ...any) func(*pgx.Batch) {
	return func(b *pgx.Batch) { b.Queue(sql, args...) }
}

// batchSender is what a transaction is begun on: a pool, or in Preflight
// one connection.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// InTenantTx runs fn in a transaction as park_app with app.tenant_id set to
// tenantID, and commits when fn returns nil. It rolls back when fn returns
// an error or panics (the panic continues). BEGIN and the prologue travel in
// one round trip.
//
// fn must not commit, roll back or change the role itself. The returned error
// is fn's own error, or a database error translated by InterpretError. A
// zero tenantID is refused with ErrNoTenant before anything is sent.
func (s *Store) InTenantTx(ctx context.Context, tenantID uuid.UUID, fn func(pgx.Tx) error) error {
	if tenantID == uuid.Nil {
		return ErrNoTenant
	}
	return inTx(ctx, s.pool, func(b *pgx.Batch) { s.queueTenantPrologue(b, tenantID) }, fn)
}

// opsTx runs fn in a transaction as park_ops; see Ops.OpsTx, the only
// caller (server code holds a Store and cannot reach it).
func (s *Store) opsTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return inTx(ctx, s.pool, statement(opsPrologue), fn)
}

// opsTxSnapshot is opsTx at REPEATABLE READ: every statement of fn sees the
// database as of the prologue, and a change committed since to a row fn
// writes (or that a cascade of fn's deletes reaches) fails the transaction
// with a serialization failure instead of slipping in unseen.
func (s *Store) opsTxSnapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	return inTxOptions(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, statement(opsPrologue), fn)
}

// InTenantBatch sends the tenant prologue followed by b's queries as one pgx
// batch: one round trip and, because the batch ends with a single Sync, one
// implicit transaction. The tenant is set for exactly that transaction and
// gone for the next statement on the connection. It is the fast path for
// reads (and single-shot writes) that need no Go logic between statements:
//
//	var b pgx.Batch
//	b.Queue(`select name from sites where id = $1`, id).QueryRow(func(r pgx.Row) error {
//		return r.Scan(&site.Name)
//	})
//	err := store.InTenantBatch(ctx, tenantID, &b)
//
// The callbacks set with QueuedQuery.Query, QueryRow or Exec run in order
// while the results arrive; the first error stops the batch, rolls back the
// implicit transaction and is returned (pgx.ErrNoRows as ErrNotFound,
// like InTenantTx). b must not contain transaction control statements
// (BEGIN, COMMIT, …; nor Batch.BeginTx): they would end the scope of the
// tenant early. b is not modified and must not be sent again.
//
// With PrologueSetLocal the batch is wrapped in BEGIN … COMMIT, still one
// round trip, on a connection of its own that is rolled back (one more
// round trip) when the batch fails.
func (s *Store) InTenantBatch(ctx context.Context, tenantID uuid.UUID, b *pgx.Batch) error {
	if s.prologue != PrologueSetLocal {
		return s.tenantBatch(ctx, s.pool, tenantID, b)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return InterpretError(fmt.Errorf("acquire connection: %w", err))
	}
	defer c.Release()
	return s.tenantBatch(ctx, c.Conn(), tenantID, b)
}

// txConn is one connection, on which an explicit transaction can be ended.
type txConn interface {
	batchSender
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
	PgConn() *pgconn.PgConn
}

// tenantBatch sends the tenant prologue and b's queries as one batch on
// db, which must be one connection (a txConn) with PrologueSetLocal.
func (s *Store) tenantBatch(ctx context.Context, db batchSender, tenantID uuid.UUID, b *pgx.Batch) error {
	if tenantID == uuid.Nil {
		return ErrNoTenant
	}
	if b == nil || b.Len() == 0 {
		return errors.New("tenancy: empty batch")
	}
	explicit := s.prologue == PrologueSetLocal
	var conn txConn
	if explicit {
		var ok bool
		if conn, ok = db.(txConn); !ok {
			return errors.New("tenancy: a SET LOCAL batch needs a connection of its own")
		}
	}
	full := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, b.Len()+4)}
	if explicit {
		full.Queue("begin")
	}
	s.queueTenantPrologue(full, tenantID)
	if err := appendQueries(full, b); err != nil {
		return err
	}
	if !explicit {
		return InterpretError(db.SendBatch(ctx, full).Close())
	}
	full.Queue("commit").Exec(checkCommit)
	err := conn.SendBatch(ctx, full).Close()
	rollbackOpen(ctx, conn)
	return InterpretError(err)
}

// checkCommit turns a COMMIT that rolled back (its tag says ROLLBACK) into
// an error.
func checkCommit(tag pgconn.CommandTag) error {
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollbackOpen ends a transaction a failed batch left open on conn, so the
// connection goes back to the pool clean; the rollback ignores the
// caller's cancellation. If it fails, the pool closes the connection.
func rollbackOpen(ctx context.Context, conn txConn) {
	if conn.PgConn().IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_, _ = conn.Exec(rctx, "rollback")
}

// InTenantTxBatches runs one transaction as park_app with app.tenant_id set
// to tenantID in two round trips, for work that needs Go between the
// statements that read and the statement that ends the transaction (such as
// rendering an answer to store): BEGIN, the tenant prologue and first's
// queries travel together; their callbacks run; then then runs and returns
// the queries that travel with the COMMIT in the second round trip (nil:
// COMMIT alone). then must not use the database.
//
// An error from a callback, from then or from the second batch rolls the
// transaction back (one more round trip, on that path only) and is
// returned translated by InterpretError; a panic rolls back too, and
// continues. Neither batch may contain transaction control statements. A zero tenantID is refused with ErrNoTenant before anything
// is sent. The connection goes back to the pool outside any transaction,
// or is closed.
func (s *Store) InTenantTxBatches(ctx context.Context, tenantID uuid.UUID, first *pgx.Batch, then func() (*pgx.Batch, error)) error {
	if tenantID == uuid.Nil {
		return ErrNoTenant
	}
	if first == nil || first.Len() == 0 {
		return errors.New("tenancy: empty batch")
	}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, first.Len()+3)}
	b.Queue("begin")
	s.queueTenantPrologue(b, tenantID)
	if err := appendQueries(b, first); err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return InterpretError(fmt.Errorf("acquire connection: %w", err))
	}
	// Release destroys a connection still in a transaction; the rollback
	// below (run first) tries to spare it.
	defer c.Release()
	conn := c.Conn()
	defer rollbackOpen(ctx, conn)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return InterpretError(err)
	}
	last, err := then()
	if err != nil {
		return InterpretError(err)
	}
	b = &pgx.Batch{}
	if last != nil {
		if err := appendQueries(b, last); err != nil {
			return err
		}
	}
	b.Queue("commit").Exec(checkCommit)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return InterpretError(err)
	}
	return nil
}

// appendQueries appends src's queries to dst, refusing transaction control.
func appendQueries(dst, src *pgx.Batch) error {
	for _, q := range src.QueuedQueries {
		if isTxControl(q.SQL) {
			return fmt.Errorf("tenancy: batch contains transaction control %q", firstWord(q.SQL))
		}
		dst.QueuedQueries = append(dst.QueuedQueries, q)
	}
	return nil
}

// inTx begins a transaction on db with the prologue (queued by prologue)
// in the same round trip, runs fn and commits.
func inTx(ctx context.Context, db batchSender, prologue func(*pgx.Batch), fn func(pgx.Tx) error) error {
	return inTxOptions(ctx, db, pgx.TxOptions{}, prologue, fn)
}

// inTxOptions is inTx with the transaction's options (its isolation level).
func inTxOptions(ctx context.Context, db batchSender, opts pgx.TxOptions, prologue func(*pgx.Batch), fn func(pgx.Tx) error) error {
	b := &pgx.Batch{}
	b.BeginTx(opts)
	prologue(b)
	br := db.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() {
		// After a successful Commit this returns ErrTxClosed and does
		// nothing; otherwise (error or panic in fn) it ends the transaction
		// and releases the connection.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := br.Close(); err != nil {
		return InterpretError(fmt.Errorf("begin transaction: %w", err))
	}
	if err := fn(tx); err != nil {
		return InterpretError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return InterpretError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// isTxControl reports statements that begin or end a transaction.
func isTxControl(sql string) bool {
	switch strings.ToLower(firstWord(sql)) {
	case "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare":
		return true
	}
	return false
}

// firstWord returns the first word of sql, skipping white space and
// line comments.
func firstWord(sql string) string {
	s := strings.TrimSpace(sql)
	for strings.HasPrefix(s, "--") {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = strings.TrimSpace(s[i+1:])
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_')
	})
	if end < 0 {
		return s
	}
	return s[:end]
}
