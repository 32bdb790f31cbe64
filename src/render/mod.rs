//! Pure functions from specs to desired state: no I/O, unit-tested without a cluster.

pub mod backends;
pub mod backup;
pub mod bindings;
pub mod config;
pub mod credentials;
pub mod exposure;
pub mod ingress;
pub mod jobs;
pub mod names;
pub mod nextcloud;
pub mod objects;
#[cfg(test)]
mod php_check;
pub mod resolve;
pub mod route;
pub mod signaling;
pub mod talk;
pub mod talk_ports;
pub mod upgrade;
