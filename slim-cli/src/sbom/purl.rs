//! Package URLs (`pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`) of the components: each
//! part percent-encoded, so that an epoch (`1:2.0`) or a `+` in a Debian version, or a
//! scope's `@`, stays unambiguous.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Ecosystem, OsRelease};
use crate::packages::KeptPackage;

/// Everything but letters, digits and `-._~` is encoded.
const PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(part: &str) -> String {
    utf8_percent_encode(part, PART).to_string()
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12`, or `pkg:apk/alpine/…`.
pub fn os_package(ecosystem: Ecosystem, package: &KeptPackage, os: Option<&OsRelease>) -> String {
    let (kind, default_namespace) = match ecosystem {
        Ecosystem::Apk => ("apk", "alpine"),
        _ => ("deb", "debian"),
    };
    let namespace = os
        .map(|o| o.id.to_ascii_lowercase())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| default_namespace.to_string());
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        enc(&namespace),
        enc(&package.name),
        enc(&package.version)
    );
    let mut qualifiers = Vec::new();
    if !package.architecture.is_empty() {
        qualifiers.push(format!("arch={}", enc(&package.architecture)));
    }
    if let Some(os) = os.filter(|o| !o.version_id.is_empty()) {
        qualifiers.push(format!(
            "distro={}",
            enc(&format!("{namespace}-{}", os.version_id))
        ));
    }
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// `pkg:pypi/NAME@VERSION`, the name normalised as PyPI does (lower case, `-`).
pub fn pypi(name: &str, version: &str) -> String {
    let mut normal = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
            continue;
        }
        if dash && !normal.is_empty() {
            normal.push('-');
        }
        dash = false;
        normal.extend(c.to_lowercase());
    }
    format!("pkg:pypi/{}@{}", enc(&normal), enc(version))
}

/// `pkg:npm/NAME@VERSION`, or `pkg:npm/%40SCOPE/NAME@VERSION`.
pub fn npm(name: &str, version: &str) -> String {
    match name.split_once('/') {
        Some((scope, rest)) if scope.starts_with('@') => {
            format!("pkg:npm/{}/{}@{}", enc(scope), enc(rest), enc(version))
        }
        _ => format!("pkg:npm/{}@{}", enc(name), enc(version)),
    }
}
