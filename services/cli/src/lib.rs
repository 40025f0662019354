//! tenantry-cli (being written).
