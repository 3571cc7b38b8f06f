//! Interface names as the kernel accepts them (`dev_valid_name` in net/core/dev.c).

/// Why a string cannot be an interface (and so VRF) name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    /// The empty string.
    #[error("interface name is empty")]
    Empty,
    /// Longer than the kernel's 15 bytes (`IFNAMSIZ` - 1).
    #[error("interface name {0:?} is longer than 15 bytes")]
    TooLong(String),
    /// `.` and `..` are reserved.
    #[error("interface name {0:?} is reserved")]
    Reserved(String),
    /// Contains `/`, `:` or whitespace, which the kernel refuses.
    #[error("interface name {0:?} contains {1:?}, which the kernel refuses")]
    BadChar(String, char),
}

/// Maximum interface name length in bytes, without the trailing NUL.
pub const MAX_NAME_LEN: usize = 15;

/// Checks `name` against the kernel's rules for interface names.
///
/// ```
/// use vrf_socket::validate_name;
/// assert!(validate_name("blue").is_ok());
/// assert!(validate_name("a/b").is_err());
/// assert!(validate_name("sixteen-bytes-xx").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), InvalidName> {
    if name.is_empty() {
        return Err(InvalidName::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidName::TooLong(name.into()));
    }
    if name == "." || name == ".." {
        return Err(InvalidName::Reserved(name.into()));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(InvalidName::BadChar(name.into(), c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_like_the_kernel() {
        for ok in ["blue", "vrf-red", "a", "x23456789012345", "mgmt.10"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_name(""), Err(InvalidName::Empty));
        assert!(matches!(
            validate_name("x234567890123456"),
            Err(InvalidName::TooLong(_))
        ));
        assert!(matches!(validate_name(".."), Err(InvalidName::Reserved(_))));
        assert!(matches!(
            validate_name("a b"),
            Err(InvalidName::BadChar(_, ' '))
        ));
        assert!(matches!(
            validate_name("eth0:1"),
            Err(InvalidName::BadChar(_, ':'))
        ));
        assert!(matches!(
            validate_name("a/b"),
            Err(InvalidName::BadChar(_, '/'))
        ));
    }
}
