//! tenantry-context-api (being written).
