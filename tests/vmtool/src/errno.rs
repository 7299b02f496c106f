//! errno names: parsing `--expect errno:NAME` and printing outcomes.

use std::io;

use crate::Expect;

/// The errnos the scenarios name.
const NAMES: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("ENODEV", libc::ENODEV),
    ("EINVAL", libc::EINVAL),
    ("ENOTTY", libc::ENOTTY),
    ("ENOSPC", libc::ENOSPC),
    ("ENOSYS", libc::ENOSYS),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ENOKEY", libc::ENOKEY),
    ("ESRCH", libc::ESRCH),
    ("ESPIPE", libc::ESPIPE),
];

/// Parses "ok" or "errno:NAME".
pub(crate) fn parse_expectation(s: &str) -> Result<Expect, String> {
    if s == "ok" {
        return Ok(Expect::Ok);
    }
    let name = s.strip_prefix("errno:").ok_or_else(|| format!("'{s}' is neither 'ok' nor 'errno:NAME'"))?;
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| Expect::Errno(*v))
        .ok_or_else(|| format!("unknown errno name '{name}'"))
}

/// "EACCES (13)" for an OS error, its text otherwise.
pub(crate) fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let name = NAMES.iter().find(|(_, v)| *v == code).map_or("E?", |(n, _)| n);
            format!("{name} ({code})")
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse() {
        assert_eq!(parse_expectation("ok"), Ok(Expect::Ok));
        assert_eq!(parse_expectation("errno:EACCES"), Ok(Expect::Errno(libc::EACCES)));
        assert!(parse_expectation("errno:EWHAT").is_err());
        assert!(parse_expectation("maybe").is_err());
        assert_eq!(describe(&io::Error::from_raw_os_error(libc::ENOKEY)), "ENOKEY (126)");
    }
}
