//! Whether a VRF's routing table ends every lookup. The kernel consults the table through the l3mdev
//! rule; when it has no route for a destination, the lookup goes on with the next rules, `main` among
//! them, so a socket of the VRF reaches what the default VRF routes to. The kernel's VRF documentation
//! closes the table with an `unreachable default` route of the highest metric. This module turns what
//! [`Vrf::missing_default_routes`] finds into the launch's warning or `--strict` refusal, and into what
//! `check` and `list` print.

use std::fmt;

use vrf_socket::{AddressFamily, Vrf, VrfError};

/// A VRF whose table lets lookups of one or both families fall through to the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTable {
    /// The VRF's name.
    pub vrf: String,
    /// Its routing table.
    pub table: u32,
    /// The families without a default route, each with the command that closes the table for it.
    pub open: Vec<(AddressFamily, String)>,
}

impl OpenTable {
    /// Reads `vrf`'s table (one `RTM_GETROUTE` dump per family): `None` when it ends every lookup.
    pub fn of(vrf: &Vrf) -> Result<Option<OpenTable>, VrfError> {
        Ok(OpenTable::from_missing(vrf, vrf.missing_default_routes()?))
    }

    /// [`OpenTable::of`] for each of `vrfs`, in order, over one netlink socket.
    pub fn of_all(vrfs: &[Vrf]) -> Result<Vec<Result<Option<OpenTable>, VrfError>>, VrfError> {
        Ok(Vrf::missing_default_routes_of(vrfs)?
            .into_iter()
            .zip(vrfs)
            .map(|(missing, vrf)| Ok(OpenTable::from_missing(vrf, missing?)))
            .collect())
    }

    fn from_missing(vrf: &Vrf, missing: Vec<AddressFamily>) -> Option<OpenTable> {
        let open: Vec<_> = missing
            .into_iter()
            .map(|f| (f, vrf.default_route_fix(f)))
            .collect();
        (!open.is_empty()).then(|| OpenTable {
            vrf: vrf.name().to_string(),
            table: vrf.table(),
            open,
        })
    }

    /// `IPv4`, `IPv6` or `IPv4 and IPv6`.
    pub fn families(&self) -> String {
        let names: Vec<String> = self.open.iter().map(|(f, _)| f.to_string()).collect();
        names.join(" and ")
    }

    /// The commands that close the table, separated by `; `.
    pub fn fixes(&self) -> String {
        let fixes: Vec<&str> = self.open.iter().map(|(_, fix)| fix.as_str()).collect();
        fixes.join("; ")
    }

    /// The open families as `list --json` names them: `["ipv4", "ipv6"]`.
    pub fn json_names(open: Option<&OpenTable>) -> Vec<&'static str> {
        open.map_or(&[][..], |t| &t.open[..])
            .iter()
            .map(|(f, _)| json_name(*f))
            .collect()
    }
}

/// `ipv4` or `ipv6`.
pub fn json_name(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Ipv4 => "ipv4",
        AddressFamily::Ipv6 => "ipv6",
    }
}

/// `VRF blue's table 10 has no default route for IPv4: a lookup with no route in the VRF falls
/// through to the main table, to the default VRF's neighbours`.
impl fmt::Display for OpenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VRF {}'s table {} has no default route for {}: a lookup with no route in the VRF falls \
             through to the main table, to the default VRF's neighbours",
            self.vrf,
            self.table,
            self.families()
        )
    }
}

/// What a launch does about the VRF's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The table ends every lookup: nothing to say.
    Closed,
    /// Run the command, after this one line on stderr (without the `vrf-exec: ` prefix).
    Warn(String),
    /// Do not run the command (`--strict`): this is why (exit 125).
    Refuse(String),
}

/// The launch's verdict on VRF `vrf` (table `table`) given what reading its table gave. Without
/// `strict` an open table, or one that could not be read, is a warning and the command runs; with it,
/// both refuse the launch: `--strict` fails closed.
pub fn at_launch(
    vrf: &str,
    table: u32,
    read: Result<Option<OpenTable>, VrfError>,
    strict: bool,
) -> Verdict {
    match (read, strict) {
        (Ok(None), _) => Verdict::Closed,
        (Ok(Some(open)), false) => {
            Verdict::Warn(format!("warning: {open} (fix: {})", open.fixes()))
        }
        (Ok(Some(open)), true) => Verdict::Refuse(format!(
            "{open}; --strict refuses to run the command there (fix: {})",
            open.fixes()
        )),
        (Err(e), false) => Verdict::Warn(format!(
            "warning: cannot tell whether VRF {vrf}'s table {table} ends every lookup ({e}); the \
             command runs anyway (--strict would refuse it)"
        )),
        (Err(e), true) => Verdict::Refuse(format!(
            "--strict: cannot tell whether VRF {vrf}'s table {table} ends every lookup: {e}; the \
             command was not run"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blue(open: &[AddressFamily]) -> OpenTable {
        OpenTable {
            vrf: "blue".into(),
            table: 10,
            open: open
                .iter()
                .map(|&f| {
                    let ip = if f.is_ipv6() { "ip -6" } else { "ip" };
                    (
                        f,
                        format!("{ip} route add vrf blue unreachable default metric 4278198272"),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_closed_table_says_nothing_either_way() {
        assert_eq!(at_launch("blue", 10, Ok(None), false), Verdict::Closed);
        assert_eq!(at_launch("blue", 10, Ok(None), true), Verdict::Closed);
    }

    #[test]
    fn an_open_table_warns_on_one_line_with_every_fix() {
        let both = blue(&[AddressFamily::Ipv4, AddressFamily::Ipv6]);
        let Verdict::Warn(w) = at_launch("blue", 10, Ok(Some(both)), false) else {
            panic!("no warning");
        };
        assert_eq!(
            w,
            "warning: VRF blue's table 10 has no default route for IPv4 and IPv6: a lookup with no \
             route in the VRF falls through to the main table, to the default VRF's neighbours (fix: \
             ip route add vrf blue unreachable default metric 4278198272; ip -6 route add vrf blue \
             unreachable default metric 4278198272)"
        );
        assert!(!w.contains('\n'));
    }

    #[test]
    fn strict_refuses_an_open_table_naming_family_and_fix() {
        let v6 = blue(&[AddressFamily::Ipv6]);
        let Verdict::Refuse(why) = at_launch("blue", 10, Ok(Some(v6)), true) else {
            panic!("not refused");
        };
        assert!(
            why.starts_with("VRF blue's table 10 has no default route for IPv6:"),
            "{why}"
        );
        assert!(why.contains("--strict refuses"), "{why}");
        assert!(
            why.ends_with("(fix: ip -6 route add vrf blue unreachable default metric 4278198272)"),
            "{why}"
        );
        assert!(!why.contains("IPv4"), "{why}");
    }

    #[test]
    fn a_table_that_cannot_be_read_fails_closed_under_strict_only() {
        let err = || {
            Err(VrfError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "reading the IPv4 routes of VRF blue (table 10): denied",
            )))
        };
        let Verdict::Refuse(why) = at_launch("blue", 10, err(), true) else {
            panic!("--strict ran the command without knowing the table");
        };
        assert!(
            why.contains("VRF blue's table 10") && why.contains("denied"),
            "{why}"
        );
        let Verdict::Warn(w) = at_launch("blue", 10, err(), false) else {
            panic!("an unread table passed silently");
        };
        assert!(
            w.starts_with("warning: cannot tell") && w.contains("denied"),
            "{w}"
        );
    }

    #[test]
    fn names_the_families() {
        assert_eq!(blue(&[AddressFamily::Ipv4]).families(), "IPv4");
        let both = blue(&[AddressFamily::Ipv4, AddressFamily::Ipv6]);
        assert_eq!(OpenTable::json_names(Some(&both)), ["ipv4", "ipv6"]);
        assert!(OpenTable::json_names(None).is_empty());
    }
}
