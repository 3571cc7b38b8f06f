//! The errors of VRF lookup: each names the device and, where there is one, the fix.

use std::io;
use std::num::NonZeroU32;

use crate::name::InvalidName;

/// Why a VRF could not be found or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VrfError {
    /// The name is not a valid interface name.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// No device has this name.
    #[error("VRF {0:?} not found (create it: ip link add {0} type vrf table N)")]
    NotFound(String),
    /// No device has this index.
    #[error("no device with ifindex {0} (ip link show lists the devices)")]
    NoSuchIndex(NonZeroU32),
    /// No device has this name (a device, not necessarily a VRF, was asked for).
    #[error("no device named {0:?} (ip link show lists the devices)")]
    NoSuchDevice(String),
    /// The device exists but is not a VRF (its link kind is not `vrf`).
    #[error("{name:?} is not a VRF (it is {}){}", kind.as_deref().map_or("a device with no link kind".to_string(), |k| format!("a {k} device")), master.as_deref().map_or(String::new(), |m| format!("; it is enslaved to VRF {m:?}")))]
    NotAVrf {
        /// The device's name.
        name: String,
        /// Its link kind (`veth`, `dummy` …), if it has one.
        kind: Option<String>,
        /// The VRF it is enslaved to, if any: probably what the user meant.
        master: Option<String>,
    },
    /// The VRF exists but is administratively down: nothing routes through it.
    #[error("VRF {0:?} is down (bring it up: ip link set {0} up)")]
    Down(String),
    /// A system call or netlink request failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<VrfError> for io::Error {
    fn from(e: VrfError) -> io::Error {
        match e {
            VrfError::Io(e) => e,
            e @ (VrfError::NotFound(_) | VrfError::NoSuchIndex(_) | VrfError::NoSuchDevice(_)) => {
                io::Error::new(io::ErrorKind::NotFound, e)
            }
            e @ (VrfError::InvalidName(_) | VrfError::NotAVrf { .. }) => {
                io::Error::new(io::ErrorKind::InvalidInput, e)
            }
            e => io::Error::other(e),
        }
    }
}
