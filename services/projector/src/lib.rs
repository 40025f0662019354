//! tenantry-projector (being written).
