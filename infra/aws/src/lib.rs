//! What Tenantry's AWS adapters (`tenantry-dynamodb`, `tenantry-keys`,
//! `tenantry-rds`) share:
//!
//! - [`AwsAccount`]: where and as whom to call AWS — endpoint override and
//!   static credentials, read from the standard `AWS_*` variables and given
//!   to every SDK client explicitly, so no SDK probes a profile file or
//!   instance metadata;
//! - [`describe`]: a failed SDK call as one readable line.

mod account;
mod describe;

pub use account::{AwsAccount, MissingEnv, env_region};
pub use describe::{MAX_CHARS, describe};
