# The "What's Already Working" curl session of the earlier Python system's
# status document (shared/seed/multi-tenancy-status.md), copied verbatim.
# TestSeedCurlSession runs it against a real parkd; only the address
# localhost:8000 is replaced with the test server's.
# 1. Register new user + tenant
curl -X POST http://localhost:8000/api/v1/auth/register -d '{
  "user": {"email":"test@acme.com","name":"Test","password":"password123"},
  "tenant": {"name":"Acme","slug":"acme"}
}'

# 2. Login
TOKEN=$(curl -s -X POST http://localhost:8000/api/v1/auth/login -d '{
  "email":"test@acme.com","password":"password123"
}' | jq -r .access_token)

# 3. Get tenant info
curl http://localhost:8000/api/v1/tenants/current -H "Authorization: Bearer $TOKEN"

# 4. Create site
SITE_ID=$(curl -s -X POST http://localhost:8000/api/v1/sites \
  -H "Authorization: Bearer $TOKEN" -d '{
    "name":"Main Site","timezone":"America/Los_Angeles"
  }' | jq -r .id)

# 5. Create API key with scopes
curl -X POST http://localhost:8000/api/v1/api-keys \
  -H "Authorization: Bearer $TOKEN" -d '{
    "name":"Test Key",
    "tenant_id":"'$(curl -s http://localhost:8000/api/v1/tenants/current -H "Authorization: Bearer $TOKEN" | jq -r .id)'",
    "scopes":["spaces:read","devices:read"]
  }'
