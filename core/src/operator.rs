//! Who is running this command: the operator named in audit records of
//! policy changes.
//!
//! The user name comes from the account database (`/etc/passwd`) for the
//! process's real uid, so it names the account and not whatever `$USER`
//! says; `$USER` is used only when the uid has no entry there. The host name
//! is the kernel's (`/proc/sys/kernel/hostname`, else `/etc/hostname`). Nothing here
//! fails: an unknown part is written as `unknown`, because a change must
//! still be recorded even on a machine without these files.

/// The person (account) and machine behind a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub user: String,
    pub uid: u32,
    pub host: String,
}

const UNKNOWN: &str = "unknown";

impl Operator {
    /// The operator running this process.
    pub fn current() -> Operator {
        let uid = rustix::process::getuid().as_raw();
        let user = user_name(uid)
            .or_else(|| std::env::var("USER").ok().filter(|u| printable(u)))
            .unwrap_or_else(|| UNKNOWN.to_owned());
        Operator {
            user,
            uid,
            host: host_name(),
        }
    }

    /// The owner of a file (`uid`) on this machine: who a hand edit is
    /// attributed to.
    pub fn owner(uid: u32) -> Operator {
        Operator {
            user: user_name(uid).unwrap_or_else(|| UNKNOWN.to_owned()),
            uid,
            host: host_name(),
        }
    }
}

/// The account name of `uid` in `/etc/passwd`, if there is one.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_lookup(&passwd, uid)
}

/// The first `name:x:uid:...` line for `uid`.
fn passwd_lookup(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        let matches = uid_field.parse::<u32>().ok() == Some(uid);
        (matches && printable(name)).then(|| name.to_owned())
    })
}

pub(crate) fn host_name() -> String {
    let name = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    match printable(&name) {
        true => name,
        false => UNKNOWN.to_owned(),
    }
}

/// A name safe to print and record: short, nothing that drives a terminal.
fn printable(text: &str) -> bool {
    let unsafe_char = text.chars().any(crate::terminal::is_terminal_unsafe);
    !text.is_empty() && text.len() <= 255 && !unsafe_char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_are_matched_by_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\n#bad\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_lookup(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_lookup(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_lookup(passwd, 4242), None);
        assert_eq!(passwd_lookup("evil\u{1b}[31m:x:7:7::/:/bin/sh", 7), None);
    }

    #[test]
    fn the_current_operator_has_this_uid_and_a_host() {
        let me = Operator::current();
        assert_eq!(me.uid, rustix::process::getuid().as_raw());
        assert!(!me.user.is_empty() && !me.host.is_empty());
    }
}
