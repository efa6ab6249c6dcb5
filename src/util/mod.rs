//! Small data structures shared by layers that must not import each other (discovery and
//! server both use them). This module imports nothing from the rest of the crate.

mod expiring_map;
pub(crate) mod ip;

pub(crate) use expiring_map::ExpiringMap;
