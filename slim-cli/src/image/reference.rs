//! Image references: the tag a new image gets by default, telling an id from a name, and
//! checking a reference as the engine will. Pure string work on what the user typed and the
//! engine answered.

use sha2::{Digest, Sha256};

use crate::inspect::ImageInfo;

/// `sha256:<hex>` of `bytes`: how the engine names layers, configs and manifests.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `<repo>.slim:<tag>` for an image reference (`repo[:tag]`, `host:port/repo[:tag]`,
/// `repo@digest`), or for an image id the first of its tags, or `slim/<id>:latest`.
pub fn default_tag(image: &ImageInfo) -> String {
    let reference = if is_id(&image.reference) {
        match image.repo_tags.iter().find(|t| !t.contains("<none>")) {
            Some(tag) => tag.as_str(),
            None => return format!("slim/{}:latest", short_id(&image.id)),
        }
    } else {
        image.reference.as_str()
    };
    let reference = reference.split('@').next().unwrap_or(reference);
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    format!("{repo}.slim:{tag}")
}

/// Whether `reference` is an image id (12 to 64 hex digits, `sha256:` or not) rather than
/// a name.
pub fn is_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    hex.len() >= 12 && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// An image id as the engine shows it: 12 hex digits, without `sha256:`.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Checks an image reference as the engine will (`[host[:port]/]path[:tag]`, lowercase path
/// components), so a bad `--tag` fails before anything runs.
pub fn parse_reference(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("{text:?} is not a valid image reference: {why}"));
    if text.is_empty() || text.len() > 255 {
        return bad("it must be 1 to 255 characters");
    }
    if text.contains('@') {
        return bad("a digest cannot be a tag; use NAME[:TAG]");
    }
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (text, None),
    };
    if let Some(tag) = tag {
        let mut chars = tag.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || tag.len() > 128
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return bad("the tag takes letters, digits, `_`, `.` and `-` (128 at most)");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let host = parts[0];
        if host.contains('.') || host.contains(':') || host == "localhost" {
            parts.remove(0);
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return bad(
            "names take lowercase letters, digits and `.`, `_`, `-` between them, in parts separated by `/`",
        );
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(reference: &str, tags: &[&str]) -> ImageInfo {
        ImageInfo {
            id: "sha256:0123456789abcdef0123".into(),
            reference: reference.into(),
            repo_tags: tags.iter().map(|t| (*t).to_string()).collect(),
            ..ImageInfo::default()
        }
    }

    #[test]
    fn default_tags_add_slim_to_the_repository() {
        assert_eq!(default_tag(&info("nginx:1.25", &[])), "nginx.slim:1.25");
        assert_eq!(default_tag(&info("app", &[])), "app.slim:latest");
        assert_eq!(
            default_tag(&info("localhost:5000/team/app:2", &[])),
            "localhost:5000/team/app.slim:2"
        );
        assert_eq!(
            default_tag(&info("localhost:5000/app", &[])),
            "localhost:5000/app.slim:latest"
        );
        assert_eq!(default_tag(&info("app@sha256:abc", &[])), "app.slim:latest");
        assert_eq!(default_tag(&info("0123456789ab", &["web:3"])), "web.slim:3");
        assert_eq!(
            default_tag(&info("sha256:0123456789ab", &[])),
            "slim/0123456789ab:latest"
        );
    }
}
