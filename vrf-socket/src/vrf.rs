//! VRF devices: look one up by name or index, list them and their slaves, find the VRF of a device, and
//! cache that answer for many devices ([`VrfMap`]).
//!
//! Every lookup asks the kernel over rtnetlink (`RTM_GETLINK`) and checks that the device's link kind is
//! `vrf`; nothing is parsed from `ip` output or sysfs. Interface indexes are `NonZeroU32` throughout, as
//! in socket2: the kernel never gives a device index 0.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::num::NonZeroU32;

use crate::error::VrfError;
use crate::family::AddressFamily;
use crate::name::validate_name;
use crate::netlink::{self, LinkDesc, Query};

/// The metric the kernel's VRF documentation gives a table's closing `unreachable default` route: the
/// highest there is, so any other default route wins.
const LAST_METRIC: u32 = 4278198272;

/// Up to this many VRFs, [`Vrf::missing_default_routes_of`] dumps each table on its own.
const FEW_VRFS: usize = 16;

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

impl Slave {
    /// The slave a link description names (`None` for index 0, which no device has).
    fn from_link(l: LinkDesc) -> Option<Slave> {
        Some(Slave {
            index: NonZeroU32::new(l.index)?,
            name: l.name,
            kind: l.kind,
            up: l.up,
        })
    }
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
    pub fn by_index(index: NonZeroU32) -> Result<Vrf, VrfError> {
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

    /// The VRF that a device belongs to: the device itself when it is a VRF, its master when that is a
    /// VRF, `None` when it is in the default VRF. The device is named or given by index:
    ///
    /// ```no_run
    /// use vrf_socket::Vrf;
    /// match Vrf::of_device("eth1")? {
    ///     Some(vrf) => println!("eth1 is in VRF {vrf}"),
    ///     None => println!("eth1 is in the default VRF"),
    /// }
    /// # Ok::<(), vrf_socket::VrfError>(())
    /// ```
    ///
    /// By index, this maps the ingress device that `IP_PKTINFO` reports (an enslaved port) to its VRF
    /// (see [`VrfMap`] to ask once per device). Fails with [`VrfError::NoSuchDevice`] or
    /// [`VrfError::NoSuchIndex`] when there is no such device.
    pub fn of_device<'a>(device: impl Into<Device<'a>>) -> Result<Option<Vrf>, VrfError> {
        let link = match device.into() {
            Device::Index(index) => get_index(index)?,
            Device::Name(name) => {
                validate_name(name)?;
                netlink::get_links(Query::Name(name))?
                    .pop()
                    .ok_or_else(|| VrfError::NoSuchDevice(name.to_string()))?
            }
        };
        if link.is_vrf() {
            return Vrf::from_link(link).map(Some);
        }
        match link.master.and_then(NonZeroU32::new) {
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
        Ok(netlink::get_links(Query::Slaves(self.index.get()))?
            .into_iter()
            .filter(|l| l.master == Some(self.index.get()))
            .filter_map(Slave::from_link)
            .collect())
    }

    /// [`Vrf::missing_default_routes`] of each VRF of `vrfs`, in order, over one netlink socket: what a
    /// listing of thousands of VRFs needs (two table dumps per VRF, no socket opened per VRF).
    ///
    /// With more than a few VRFs it first tries one dump of every table per family, which costs two
    /// round trips instead of two per VRF, and reads it only while it stays small (a few routes per
    /// VRF and some thousands more): a host with a full Internet table gets the per-table dumps.
    pub fn missing_default_routes_of(
        vrfs: &[Vrf],
    ) -> Result<Vec<Result<Vec<AddressFamily>, VrfError>>, VrfError> {
        let mut channel = netlink::route_channel()?;
        if vrfs.len() > FEW_VRFS {
            let limit = vrfs.len().saturating_mul(16).saturating_add(20_000);
            // The (table, IPv6) pairs that have a default route, if both dumps stayed small.
            let mut closed = Some(std::collections::HashSet::new());
            for v6 in [false, true] {
                match (
                    netlink::get_all_routes_on(&mut channel, v6, limit)?,
                    &mut closed,
                ) {
                    (Some(routes), Some(closed)) => closed.extend(
                        routes
                            .iter()
                            .filter(|r| r.ends_lookups())
                            .map(|r| (r.table, r.v6)),
                    ),
                    _ => closed = None,
                }
            }
            if let Some(closed) = closed {
                return Ok(vrfs
                    .iter()
                    .map(|v| {
                        Ok([AddressFamily::Ipv4, AddressFamily::Ipv6]
                            .into_iter()
                            .filter(|f| !closed.contains(&(v.table, f.is_ipv6())))
                            .collect())
                    })
                    .collect());
            }
        }
        Ok(vrfs
            .iter()
            .map(|v| v.missing_default_routes_on(&mut channel))
            .collect())
    }

    /// The address families in which lookups in this VRF can fall through to the default VRF: those
    /// whose table has no default route (of any type but `throw`).
    ///
    /// The kernel consults a VRF's table through the l3mdev FIB rule (`ip rule`, preference 1000). When
    /// the table has no route for a destination, the lookup goes on with the next rules, `main` among
    /// them: a socket bound to the VRF then reaches what the default VRF routes to. The kernel's VRF
    /// documentation closes the table with an `unreachable default` route of the highest metric, which
    /// [`Vrf::default_route_fix`] spells out. One `RTM_GETROUTE` dump per family, of this table only on
    /// Linux 4.20 and later.
    ///
    /// ```no_run
    /// let blue = vrf_socket::Vrf::by_name("blue")?;
    /// for family in blue.missing_default_routes()? {
    ///     eprintln!("VRF {blue} leaks {family} to the default VRF: {}", blue.default_route_fix(family));
    /// }
    /// # Ok::<(), vrf_socket::VrfError>(())
    /// ```
    pub fn missing_default_routes(&self) -> Result<Vec<AddressFamily>, VrfError> {
        self.missing_default_routes_on(&mut netlink::route_channel()?)
    }

    fn missing_default_routes_on(
        &self,
        channel: &mut netlink::Channel,
    ) -> Result<Vec<AddressFamily>, VrfError> {
        let mut missing = Vec::new();
        for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
            let routes =
                netlink::get_routes_on(channel, self.table, family.is_ipv6()).map_err(|e| {
                    VrfError::Io(std::io::Error::new(
                        e.kind(),
                        format!(
                            "reading the {family} routes of VRF {self} (table {}): {e}",
                            self.table
                        ),
                    ))
                })?;
            if !routes.iter().any(netlink::RouteDesc::ends_lookups) {
                missing.push(family);
            }
        }
        Ok(missing)
    }

    /// The command that closes this VRF's table for `family` with an `unreachable default` route of the
    /// highest metric, so no lookup in the VRF falls through to the default VRF:
    /// `ip route add vrf blue unreachable default metric 4278198272` (`ip -6 …` for IPv6).
    pub fn default_route_fix(&self, family: AddressFamily) -> String {
        let ip = match family {
            AddressFamily::Ipv4 => "ip",
            AddressFamily::Ipv6 => "ip -6",
        };
        format!(
            "{ip} route add vrf {} unreachable default metric {LAST_METRIC}",
            self.name
        )
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
                .and_then(NonZeroU32::new)
                .and_then(|m| get_index(m).ok())
                .filter(LinkDesc::is_vrf)
                .map(|m| m.name);
            return Err(VrfError::NotAVrf {
                name: link.name,
                kind: link.kind,
                master,
            });
        }
        let index = NonZeroU32::new(link.index).ok_or_else(|| {
            VrfError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the kernel described VRF {:?} with ifindex 0", link.name),
            ))
        })?;
        Ok(Vrf {
            index,
            table: link.table.unwrap_or(0),
            up: link.up,
            name: link.name,
        })
    }
}

/// The VRF's device name (`blue`), nothing else: what messages and `ip` commands need.
///
/// ```no_run
/// let blue = vrf_socket::Vrf::by_name("blue")?;
/// assert_eq!(format!("VRF {blue}"), "VRF blue");
/// # Ok::<(), vrf_socket::VrfError>(())
/// ```
impl fmt::Display for Vrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A network device, by name or by interface index: what [`Vrf::of_device`] takes. Made by `From`
/// from a `&str`, a `&String` or a `NonZeroU32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device<'a> {
    /// The device called this (`eth1`).
    Name(&'a str),
    /// The device with this interface index.
    Index(NonZeroU32),
}

impl<'a> From<&'a str> for Device<'a> {
    fn from(name: &'a str) -> Self {
        Device::Name(name)
    }
}

impl<'a> From<&'a String> for Device<'a> {
    fn from(name: &'a String) -> Self {
        Device::Name(name)
    }
}

impl From<NonZeroU32> for Device<'_> {
    fn from(index: NonZeroU32) -> Self {
        Device::Index(index)
    }
}

/// Every device of the network namespace at one moment, from one `RTM_GETLINK` dump: the VRFs, their
/// slaves, and the VRF of any device. What a tool that looks at many VRFs or many devices at once
/// (a listing, a socket inventory) uses instead of one request per VRF: with thousands of VRFs the
/// difference is thousands of netlink round trips.
///
/// ```no_run
/// let snap = vrf_socket::VrfSnapshot::take()?;
/// for vrf in snap.vrfs() {
///     let slaves: Vec<_> = snap.slaves(vrf).iter().map(|s| s.name.as_str()).collect();
///     println!("{vrf} (table {}): {}", vrf.table(), slaves.join(" "));
/// }
/// # Ok::<(), vrf_socket::VrfError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct VrfSnapshot {
    vrfs: Vec<Vrf>,
    /// Per VRF (by position in `vrfs`), its slaves in ifindex order.
    slaves: Vec<Vec<Slave>>,
    /// Every device: its name and the position of its VRF in `vrfs`, if any.
    devices: HashMap<NonZeroU32, (String, Option<usize>)>,
}

impl VrfSnapshot {
    /// Takes the snapshot (one dump of every device).
    pub fn take() -> Result<VrfSnapshot, VrfError> {
        let links = netlink::get_links(Query::All)?;
        let mut snap = VrfSnapshot::default();
        let mut position: HashMap<u32, usize> = HashMap::new();
        for l in links.iter().filter(|l| l.is_vrf()) {
            position.insert(l.index, snap.vrfs.len());
            snap.vrfs.push(Vrf::from_link(l.clone())?);
            snap.slaves.push(Vec::new());
        }
        for l in links {
            let Some(index) = NonZeroU32::new(l.index) else {
                continue;
            };
            let vrf = position
                .get(&l.index)
                .or_else(|| l.master.and_then(|m| position.get(&m)))
                .copied();
            let name = l.name.clone();
            if let (Some(v), false) = (vrf, l.is_vrf()) {
                snap.slaves[v].extend(Slave::from_link(l));
            }
            snap.devices.insert(index, (name, vrf));
        }
        Ok(snap)
    }

    /// The VRFs, in ifindex order (as [`Vrf::list`]).
    pub fn vrfs(&self) -> &[Vrf] {
        &self.vrfs
    }

    /// The devices enslaved to `vrf`, in ifindex order; empty for a VRF not in the snapshot.
    pub fn slaves(&self, vrf: &Vrf) -> &[Slave] {
        self.position(vrf)
            .map_or(&[][..], |i| self.slaves[i].as_slice())
    }

    /// The VRF of device `ifindex`: the device itself when it is a VRF, its master when that is a VRF;
    /// `None` for a device in the default VRF or one the snapshot does not know.
    pub fn vrf_of(&self, ifindex: NonZeroU32) -> Option<&Vrf> {
        let (_, vrf) = self.devices.get(&ifindex)?;
        vrf.map(|i| &self.vrfs[i])
    }

    /// The VRF called `name`, if the snapshot has one.
    pub fn vrf_named(&self, name: &str) -> Option<&Vrf> {
        self.vrfs.iter().find(|v| v.name == name)
    }

    /// The name of device `ifindex`, if the snapshot knows it.
    pub fn device_name(&self, ifindex: NonZeroU32) -> Option<&str> {
        self.devices.get(&ifindex).map(|(n, _)| n.as_str())
    }

    fn position(&self, vrf: &Vrf) -> Option<usize> {
        match self.devices.get(&vrf.index) {
            Some((_, Some(i))) if self.vrfs[*i] == *vrf => Some(*i),
            _ => None,
        }
    }
}

/// Maps devices (e.g. the ingress devices that pktinfo reports) to their VRF, asking the kernel once per
/// device.
///
/// It asks the network namespace of the calling thread: use it from a thread in the socket's namespace.
/// Devices can be moved between VRFs; call [`VrfMap::clear`] when the configuration changes (a long-lived
/// server can clear it on a timer or on rtnetlink link notifications).
///
/// ```no_run
/// # fn f(meta: vrf_socket::pktinfo::RecvMeta) -> Result<(), vrf_socket::VrfError> {
/// let mut vrfs = vrf_socket::VrfMap::default();
/// match vrfs.vrf_of(meta.ifindex)? {
///     Some(vrf) => println!("from {} in VRF {vrf}", meta.src),
///     None => println!("from {} in the default VRF", meta.src),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct VrfMap {
    cache: HashMap<NonZeroU32, Option<Vrf>>,
}

impl VrfMap {
    /// The VRF of device `ifindex` (`None`: the default VRF). Takes a `NonZeroU32` or an
    /// `Option<NonZeroU32>` (as [`RecvMeta::ifindex`](crate::pktinfo::RecvMeta::ifindex) is): no device
    /// is the default VRF.
    pub fn vrf_of(
        &mut self,
        ifindex: impl Into<Option<NonZeroU32>>,
    ) -> Result<Option<&Vrf>, VrfError> {
        let Some(ifindex) = ifindex.into() else {
            return Ok(None);
        };
        let vrf = match self.cache.entry(ifindex) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Vrf::of_device(ifindex)?),
        };
        Ok(vrf.as_ref())
    }

    /// Forgets every answer.
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

fn get_index(index: NonZeroU32) -> Result<LinkDesc, VrfError> {
    // The kernel's ifindex is a positive `int`: larger values would reach it as negative (EINVAL).
    if index.get() > i32::MAX as u32 {
        return Err(VrfError::NoSuchIndex(index));
    }
    netlink::get_links(Query::Index(index.get()))?
        .pop()
        .ok_or(VrfError::NoSuchIndex(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LO: NonZeroU32 = NonZeroU32::MIN;

    // The host kernel (even without VRF support) has `lo`: enough to test the "not a VRF" and "not found"
    // paths against a real kernel. VRF behaviour itself is tested in the lab.
    #[test]
    fn lo_is_not_a_vrf() {
        match Vrf::by_name("lo") {
            Err(VrfError::NotAVrf { name, .. }) => assert_eq!(name, "lo"),
            other => panic!("expected NotAVrf, got {other:?}"),
        }
        assert!(matches!(Vrf::by_index(LO), Err(VrfError::NotAVrf { .. })));
        assert_eq!(
            Vrf::of_device(LO).unwrap(),
            None,
            "lo is in the default VRF"
        );
        assert_eq!(Vrf::of_device("lo").unwrap(), None, "by name too");
        let mut map = VrfMap::default();
        assert_eq!(map.vrf_of(LO).unwrap(), None);
        assert_eq!(
            map.vrf_of(None).unwrap(),
            None,
            "no device: the default VRF"
        );
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
        let huge = NonZeroU32::MAX;
        assert!(matches!(Vrf::by_index(huge), Err(VrfError::NoSuchIndex(i)) if i == huge));
        let e = Vrf::of_device("nosuchdev0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no device named \"nosuchdev0\" (ip link show lists the devices)"
        );
        assert!(matches!(
            Vrf::of_device("a b"),
            Err(VrfError::InvalidName(_))
        ));
    }
}
