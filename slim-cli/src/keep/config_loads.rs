//! Files a program's configuration tells it to load: PHP's `extension=intl` in each SAPI's
//! ini files, Apache's `LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so`. A
//! profile's `[[config_loads]]` rule names the configuration files, the directives and
//! where a relative name is looked up; each file named is kept (the builder queues its ELF
//! closure), whether or not the traced run loaded it (the CLI's ini files load their
//! extensions only when someone runs `php`).
//!
//! The parser takes lines of `DIRECTIVE VALUE` or `DIRECTIVE = VALUE`; the file is the
//! value's last word without quotes. Comments (`;` and `#`) and every other line are
//! skipped; any bytes are accepted.

use globset::GlobSet;

use super::builder::display;
use super::glob::{as_path, compile_globs};
use super::profile::ConfigLoads;
use super::rules::Apply;
use crate::image::index::{NodeKind, join, resolve};
use crate::trace::path::normalize;

/// The names `text` loads with one of `directives` (matched without regard to case).
pub fn loaded_names(text: &[u8], directives: &[String]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let key_end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let key = &line[..key_end];
        if !directives.iter().any(|d| d.eq_ignore_ascii_case(key)) {
            continue;
        }
        let value = line[key_end..]
            .trim_start()
            .trim_start_matches('=')
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let Some(word) = value.split_whitespace().last() else {
            continue;
        };
        let name = word.trim_matches(|c| c == '"' || c == '\'');
        if !name.is_empty() && !name.contains('\0') {
            names.push(name.to_string());
        }
    }
    names
}

impl Apply<'_, '_> {
    /// Keeps what the configuration files of `rule` load.
    pub(super) fn config_loads(
        &mut self,
        rule: &ConfigLoads,
        excludes: &GlobSet,
    ) -> Result<(), super::KeepError> {
        let index = self.builder.index;
        let files = compile_globs(rule.files.iter().map(String::as_str))?;
        let dirs = compile_globs(rule.dirs.iter().map(String::as_str))?;
        let configs: Vec<Vec<u8>> = index
            .iter()
            .filter(|(p, n)| !matches!(n.kind, NodeKind::Dir) && files.is_match(as_path(p)))
            .map(|(p, _)| p.clone())
            .collect();
        let lookup: Vec<Vec<u8>> = index
            .iter()
            .filter(|(p, n)| matches!(n.kind, NodeKind::Dir) && dirs.is_match(as_path(p)))
            .map(|(p, _)| p.clone())
            .collect();
        for config in configs {
            let Some(text) = self.builder.read_small(&config) else {
                continue;
            };
            let reason = self.reason(&format!("loaded by {}", display(&config)));
            for name in loaded_names(&text, &rule.directives) {
                let name = name.as_bytes();
                let bases: Vec<Vec<u8>> = if name.starts_with(b"/") {
                    vec![normalize(name)]
                } else {
                    lookup
                        .iter()
                        .map(|dir| normalize(&join(dir, name)))
                        .collect()
                };
                let found = bases.iter().find_map(|base| {
                    [
                        base.clone(),
                        [base.as_slice(), rule.suffix.as_bytes()].concat(),
                    ]
                    .into_iter()
                    .find(|candidate| {
                        resolve(index, candidate, true)
                            .target
                            .and_then(|t| index.get(&t))
                            .is_some_and(|n| !matches!(n.kind, NodeKind::Dir))
                    })
                });
                if let Some(found) = found
                    && !self.excluded(excludes, &found)
                {
                    self.builder.add(&found, reason.clone(), true);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str, directives: &[&str]) -> Vec<String> {
        let directives: Vec<String> = directives.iter().map(|d| (*d).to_string()).collect();
        loaded_names(text.as_bytes(), &directives)
    }

    #[test]
    fn reads_ini_extensions_and_apache_modules() {
        let ini = "; priority=20\nextension=intl.so\n;extension=off\n  extension = \"mbstring\"\n\
                   zend_extension=opcache.so ; comment\nmemory_limit = 128M\n";
        assert_eq!(
            names(ini, &["extension", "zend_extension"]),
            ["intl.so", "mbstring", "opcache.so"]
        );
        let load = "# Depends: mpm_prefork\nLoadModule php_module /usr/lib/apache2/modules/libphp8.2.so\n\
                    loadmodule x\tmodules/mod_x.so\nLoadModuleX y z\n";
        assert_eq!(
            names(load, &["LoadModule"]),
            ["/usr/lib/apache2/modules/libphp8.2.so", "modules/mod_x.so"]
        );
    }

    #[test]
    fn any_bytes_parse_without_error() {
        for text in [
            &b"extension="[..],
            b"extension",
            b"=\n=",
            b"extension=\xff\xfe",
            b"\0",
        ] {
            let _ = loaded_names(text, &["extension".to_string()]);
        }
    }
}
