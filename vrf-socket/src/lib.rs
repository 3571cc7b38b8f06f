//! Find Linux VRFs and open sockets scoped to them.
//!
//! A VRF (Virtual Routing and Forwarding) device is the kernel's l3mdev: `ip link add blue type vrf table
//! 10` creates one, `ip link set eth1 master blue` puts a device in it, and a socket bound to the VRF
//! device (`SO_BINDTODEVICE` / `SO_BINDTOIFINDEX`) routes through the VRF's table only.
//!
//! This crate grows in steps; today it holds the VRF name rules shared by every tool.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod name;

pub use name::{InvalidName, validate_name};
