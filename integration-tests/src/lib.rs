//! tenantry-integration-tests (being written).
