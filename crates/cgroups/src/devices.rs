//! Device rules as both versions need them: checked once, then written as
//! v1 `devices.allow`/`devices.deny` lines or compiled to eBPF on v2.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::{Error, Result};

pub(crate) const FIELD: &str = "linux.resources.devices";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    All,
    Char,
    Block,
}

/// Access bits as the kernel's device cgroup numbers them
/// (BPF_DEVCG_ACC_*).
pub(crate) const MKNOD: u32 = 1;
pub(crate) const READ: u32 = 2;
pub(crate) const WRITE: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// `None` matches any number.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

impl Rule {
    /// The line the v1 devices controller expects: `c 1:3 rwm`, `a *:* rwm`.
    pub(crate) fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::All => "a",
            Kind::Char => "c",
            Kind::Block => "b",
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

pub(crate) fn parse(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    rules.iter().map(parse_one).collect()
}

fn parse_one(r: &LinuxDeviceCgroup) -> Result<Rule> {
    let invalid = |reason: String| Error::Invalid { field: FIELD, reason: format!("rule \"{r}\": {reason}") };
    let kind = match r.typ().unwrap_or_default() {
        LinuxDeviceType::A => Kind::All,
        // "u" is an unbuffered character device: still a character device.
        LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
        LinuxDeviceType::B => Kind::Block,
        LinuxDeviceType::P => return Err(invalid("type p (FIFO) cannot appear in a device cgroup rule".into())),
    };
    let number = |n: Option<i64>, what: &str| match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            // The eBPF filter compares against a sign-extended 32-bit
            // immediate, so numbers must fit in an i32.
            .filter(|&n| i32::try_from(n).is_ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("{what} number {n} is out of range"))),
    };
    let (major, minor) = match kind {
        // The kernel ignores numbers for "a" rules; so do we.
        Kind::All => (None, None),
        _ => (number(r.major(), "major")?, number(r.minor(), "minor")?),
    };
    let access_text = r.access().as_deref().unwrap_or("");
    let mut access = 0;
    for c in access_text.chars() {
        access |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => return Err(invalid(format!("access {access_text:?} may only contain r, w, m"))),
        };
    }
    if access == 0 {
        // An omitted access list means all access, as in runc.
        access = READ | WRITE | MKNOD;
    }
    Ok(Rule { allow: r.allow(), kind, major, minor, access })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    pub(crate) fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn v1_lines() {
        use LinuxDeviceType::*;
        let rules = parse(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(1), Some(3), "rwm"),
            rule(true, C, Some(136), Some(-1), "rw"),
            rule(true, B, Some(8), None, "m"),
            rule(true, U, Some(5), Some(1), ""),
            rule(true, A, Some(1), Some(2), "r"),
        ])
        .unwrap();
        let lines: Vec<_> = rules.iter().map(Rule::v1_line).collect();
        assert_eq!(lines, ["a *:* rwm", "c 1:3 rwm", "c 136:* rw", "b 8:* m", "c 5:1 rwm", "a *:* r"]);
        assert!(!rules[0].allow && rules[1].allow);
    }

    #[test]
    fn bad_rules_name_the_field() {
        use LinuxDeviceType::*;
        for r in [
            rule(true, P, None, None, "rwm"),
            rule(true, C, Some(-2), None, "rwm"),
            rule(true, C, Some(1), Some(1 << 40), "rwm"),
            rule(true, C, Some(1), Some(3), "rwx"),
        ] {
            let err = parse(&[r]).unwrap_err().to_string();
            assert!(err.starts_with("linux.resources.devices: rule"), "{err}");
        }
    }
}
