//! End-to-end tests live in `tests/e2e/`: they need the local stack
//! (`infra/local/up`) and the `tenantry` binary (`$TENANTRY_BIN`).
