//! Names of the errno values a traced call can fail with, both ways: `-2` → `ENOENT` for
//! the trace output, `ENOENT` → 2 for reading a trace back.

/// Errno values by name; the values are this architecture's, from libc.
const ERRNOS: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EBADF, "EBADF"),
    (libc::ECHILD, "ECHILD"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::EROFS, "EROFS"),
    (libc::EMLINK, "EMLINK"),
    (libc::EPIPE, "EPIPE"),
    (libc::ERANGE, "ERANGE"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENODATA, "ENODATA"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::ELIBBAD, "ELIBBAD"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::ESTALE, "ESTALE"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::ENOMEDIUM, "ENOMEDIUM"),
    (libc::ECANCELED, "ECANCELED"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED"),
    (libc::ERESTART, "ERESTART"),
    (libc::EUCLEAN, "EUCLEAN"),
];

/// The symbolic name of `errno`, or `E<number>` for one not in the table.
pub fn name(errno: i32) -> String {
    ERRNOS
        .iter()
        .find(|(value, _)| *value == errno)
        .map_or_else(|| format!("E{errno}"), |(_, name)| (*name).to_string())
}

/// The errno named `name` (a table name or `E<number>`).
pub fn from_name(name: &str) -> Option<i32> {
    ERRNOS
        .iter()
        .find(|(_, known)| *known == name)
        .map(|(value, _)| *value)
        .or_else(|| name.strip_prefix('E')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errnos_have_their_names() {
        assert_eq!(name(libc::ENOENT), "ENOENT");
        assert_eq!(name(libc::EACCES), "EACCES");
        assert_eq!(name(libc::ENOTDIR), "ENOTDIR");
        assert_eq!(name(libc::ELOOP), "ELOOP");
        assert_eq!(name(libc::ENAMETOOLONG), "ENAMETOOLONG");
    }

    #[test]
    fn unknown_errnos_fall_back_to_their_number() {
        assert_eq!(name(4000), "E4000");
        assert_eq!(from_name("E4000"), Some(4000));
    }

    #[test]
    fn names_round_trip() {
        for &(value, known) in ERRNOS {
            assert_eq!(from_name(&name(value)), Some(value), "{known}");
        }
        assert_eq!(from_name("ok"), None);
    }
}
