package tenancy_test

import (
	"reflect"
	"testing"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// TestOperatorMethodsAreNotOnStore pins the split between the server's
// stores and the operator's: the methods that act as park_ops exist on Ops
// only, so code holding a Store (parkd) cannot call them by mistake.
func TestOperatorMethodsAreNotOnStore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		store, ops reflect.Type
		methods    []string
	}{
		{reflect.TypeFor[*tenancy.Store](), reflect.TypeFor[*tenancy.Ops](),
			[]string{"OpsTx", "TenantCreate", "TenantBySlug", "TenantByID", "TenantListAll", "TenantSetStatus", "TenantSetLimits",
				"AuditListAll",
				"UserCreate", "UserByEmail", "UserSetPassword", "UserEndSessions"}},
		{reflect.TypeFor[*reservation.Store](), reflect.TypeFor[*reservation.Ops](),
			[]string{"Audit", "PruneExpiredKeys"}},
	} {
		for _, m := range tt.methods {
			if _, ok := tt.store.MethodByName(m); ok {
				t.Errorf("%s has the operator method %s", tt.store, m)
			}
			if _, ok := tt.ops.MethodByName(m); !ok {
				t.Errorf("%s lacks %s", tt.ops, m)
			}
		}
	}
}
