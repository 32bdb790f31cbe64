//! Pure functions from specs to desired state: no I/O, unit-tested without a cluster.

pub mod backends;
pub mod bindings;
pub mod config;
pub mod credentials;
pub mod ingress;
pub mod names;
pub mod objects;
pub mod resolve;
