//! VRF devices: look one up by name or index, list them and their slaves, find the VRF of a device.
//!
//! Every lookup asks the kernel over rtnetlink (`RTM_GETLINK`) and checks that the device's link kind is
//! `vrf`; nothing is parsed from `ip` output or sysfs.

use std::fmt;
use std::num::NonZeroU32;

use crate::error::VrfError;
use crate::name::validate_name;
use crate::netlink::{self, LinkDesc, Query};

/// A VRF device (`ip link add NAME type vrf table N`), as the kernel described it at lookup time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vrf {
    name: String,
    index: NonZeroU32,
    table: u32,
    up: bool,
}

/// A device enslaved to a VRF (`ip link set DEV master VRF`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Slave {
    /// The device's name.
    pub name: String,
    /// Its interface index.
    pub index: NonZeroU32,
    /// Its link kind (`veth`, `dummy`, `bridge` …), if it has one.
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
}

impl Vrf {
    /// Looks up the VRF called `name`.
    ///
    /// Fails with [`VrfError::InvalidName`], [`VrfError::NotFound`], or [`VrfError::NotAVrf`] when the device
    /// exists but is something else (an enslaved port names its VRF in the message). A VRF that is down is
    /// returned; see [`Vrf::ensure_up`].
    ///
    /// ```no_run
    /// let blue = vrf_socket::Vrf::by_name("blue")?;
    /// println!("{} is ifindex {} and routes with table {}", blue.name(), blue.index(), blue.table());
    /// # Ok::<(), vrf_socket::VrfError>(())
    /// ```
    pub fn by_name(name: &str) -> Result<Vrf, VrfError> {
        validate_name(name)?;
        let link = netlink::get_links(Query::Name(name))?
            .pop()
            .ok_or_else(|| VrfError::NotFound(name.to_string()))?;
        Vrf::from_link(link)
    }

    /// Looks up the VRF called `name` and checks that it is up: what a tool does before it sends anything.
    /// Besides the errors of [`Vrf::by_name`], fails with [`VrfError::Down`]; a failed netlink request
    /// says which VRF it was looking up.
    pub fn up_by_name(name: &str) -> Result<Vrf, VrfError> {
        let vrf = Vrf::by_name(name).map_err(|e| match e {
            VrfError::Io(e) => VrfError::Io(std::io::Error::new(
                e.kind(),
                format!("looking up VRF {name:?}: {e}"),
            )),
            e => e,
        })?;
        vrf.ensure_up()?;
        Ok(vrf)
    }

    /// Looks up the VRF with interface index `index`.
    pub fn by_index(index: u32) -> Result<Vrf, VrfError> {
        let link = get_index(index)?;
        Vrf::from_link(link)
    }

    /// All VRFs of the current network namespace, in ifindex order.
    pub fn list() -> Result<Vec<Vrf>, VrfError> {
        netlink::get_links(Query::All)?
            .into_iter()
            .filter(LinkDesc::is_vrf)
            .map(Vrf::from_link)
            .collect()
    }

    /// The VRF that device `index` belongs to: the device itself when it is a VRF, its master when that is
    /// a VRF, `None` when it is in the default VRF.
    ///
    /// This maps the ingress device that `IP_PKTINFO` reports (an enslaved port) to its VRF.
    pub fn of_device(index: u32) -> Result<Option<Vrf>, VrfError> {
        let link = get_index(index)?;
        if link.is_vrf() {
            return Vrf::from_link(link).map(Some);
        }
        match link.master {
            Some(m) => {
                let master = get_index(m)?;
                Ok(if master.is_vrf() {
                    Some(Vrf::from_link(master)?)
                } else {
                    None
                })
            }
            None => Ok(None),
        }
    }

    /// The devices enslaved to this VRF, in ifindex order.
    pub fn slaves(&self) -> Result<Vec<Slave>, VrfError> {
        Ok(netlink::get_links(Query::All)?
            .into_iter()
            .filter(|l| l.master == Some(self.index.get()))
            .filter_map(|l| {
                Some(Slave {
                    index: NonZeroU32::new(l.index)?,
                    name: l.name,
                    kind: l.kind,
                    up: l.up,
                })
            })
            .collect())
    }

    /// Fails with [`VrfError::Down`] unless the VRF is administratively up.
    pub fn ensure_up(&self) -> Result<(), VrfError> {
        if self.up {
            Ok(())
        } else {
            Err(VrfError::Down(self.name.clone()))
        }
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index (what `SO_BINDTOIFINDEX` takes).
    pub fn index(&self) -> NonZeroU32 {
        self.index
    }

    /// The routing table the VRF's l3mdev rule sends lookups to.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// Administratively up (`IFF_UP`) at lookup time.
    pub fn is_up(&self) -> bool {
        self.up
    }

    fn from_link(link: LinkDesc) -> Result<Vrf, VrfError> {
        if !link.is_vrf() {
            let master = link
                .master
                .and_then(|m| get_index(m).ok())
                .filter(LinkDesc::is_vrf)
                .map(|m| m.name);
            return Err(VrfError::NotAVrf {
                name: link.name,
                kind: link.kind,
                master,
            });
        }
        let index = NonZeroU32::new(link.index).ok_or(VrfError::NoSuchIndex(0))?;
        Ok(Vrf {
            index,
            table: link.table.unwrap_or(0),
            up: link.up,
            name: link.name,
        })
    }
}

impl fmt::Display for Vrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn get_index(index: u32) -> Result<LinkDesc, VrfError> {
    // The kernel's ifindex is a positive `int`: larger values would reach it as negative (EINVAL).
    if index == 0 || index > i32::MAX as u32 {
        return Err(VrfError::NoSuchIndex(index));
    }
    netlink::get_links(Query::Index(index))?
        .pop()
        .ok_or(VrfError::NoSuchIndex(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The host kernel (even without VRF support) has `lo`: enough to test the "not a VRF" and "not found"
    // paths against a real kernel. VRF behaviour itself is tested in the lab (tests/lab/).
    #[test]
    fn lo_is_not_a_vrf() {
        match Vrf::by_name("lo") {
            Err(VrfError::NotAVrf { name, .. }) => assert_eq!(name, "lo"),
            other => panic!("expected NotAVrf, got {other:?}"),
        }
        assert!(matches!(Vrf::by_index(1), Err(VrfError::NotAVrf { .. })));
        assert_eq!(Vrf::of_device(1).unwrap(), None, "lo is in the default VRF");
    }

    #[test]
    fn missing_and_invalid_names_are_told_apart() {
        let e = Vrf::by_name("nosuchvrf0").unwrap_err();
        assert!(matches!(e, VrfError::NotFound(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "VRF \"nosuchvrf0\" not found (create it: ip link add nosuchvrf0 type vrf table N)"
        );
        assert!(matches!(Vrf::by_name("a/b"), Err(VrfError::InvalidName(_))));
        assert!(matches!(Vrf::by_index(0), Err(VrfError::NoSuchIndex(0))));
        assert!(matches!(
            Vrf::by_index(u32::MAX),
            Err(VrfError::NoSuchIndex(_))
        ));
    }
}
