//! Prometheus metrics shared by every service.
