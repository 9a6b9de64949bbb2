//! The ruby and php profiles on small images laid out as Debian's packages are: gems in
//! `/usr/share/rubygems-integration/all`, the standard library in `/usr/lib/ruby/3.1.0` with
//! its C extensions in `/usr/lib/x86_64-linux-gnu/ruby/3.1.0`; PHP's ini files in
//! `/etc/php/8.2/*/conf.d`, extensions in `/usr/lib/php/20220829`.

use super::profile::load;
use super::{ImageRuntime, KeepOptions, KeepSet, Reason, compute};
use crate::image::index::FsIndex;
use crate::test_kit::record;
use slim_test_kit::{Entry as TarEntry, ScratchDir, TarWriter};

const GEMS: &str = "usr/share/rubygems-integration/all";
const STDLIB: &str = "usr/lib/ruby/3.1.0";
const ARCH: &str = "usr/lib/x86_64-linux-gnu/ruby/3.1.0";

fn ruby_image() -> TarWriter {
    TarWriter::new()
        .file("usr/bin/ruby3.1", "")
        .symlink("usr/bin/ruby", "ruby3.1")
        .file(
            "app/app.rb",
            "require 'sinatra'\nget '/' do\n  require \"csv\"\n  require_relative 'lib/helper'\nend\n",
        )
        .file("app/lib/helper.rb", "require 'bigdecimal'\n")
        .file("app/lib/unused.rb", "")
        .file(
            format!("{GEMS}/gems/sinatra-3.0.5/lib/sinatra.rb"),
            "require 'sinatra/main'\n",
        )
        .file(
            format!("{GEMS}/gems/sinatra-3.0.5/lib/sinatra/main.rb"),
            "require 'mustermann'\nrequire 'rdoc'\n",
        )
        .file(format!("{GEMS}/gems/sinatra-3.0.5/test/x_test.rb"), "")
        .file(format!("{GEMS}/specifications/sinatra-3.0.5.gemspec"), "")
        .file(
            format!("{GEMS}/gems/mustermann-3.0.0/lib/mustermann.rb"),
            "",
        )
        .file(
            format!("{GEMS}/gems/mustermann-3.0.0/lib/mustermann/expander.rb"),
            "",
        )
        .file(format!("{GEMS}/specifications/mustermann-3.0.0.gemspec"), "")
        .file(format!("{GEMS}/gems/unused-1.0/lib/unused.rb"), "")
        .file(
            format!("{GEMS}/extensions/x86_64-linux/3.1.0/unused-1.0/gem.build_complete"),
            "",
        )
        .file(format!("{GEMS}/specifications/unused-1.0.gemspec"), "")
        .file(
            format!("{STDLIB}/csv.rb"),
            "require \"forwardable\"\nrequire_relative \"csv/row\"\n",
        )
        .file(format!("{STDLIB}/csv/row.rb"), "")
        .file(format!("{STDLIB}/forwardable.rb"), "")
        .file(format!("{STDLIB}/bigdecimal.rb"), "require 'bigdecimal.so'\n")
        .file(format!("{STDLIB}/rdoc.rb"), "")
        .file(format!("{STDLIB}/unrequired.rb"), "")
        .file(format!("{STDLIB}/digest.rb"), "")
        .file(format!("{STDLIB}/digest/sha2.rb"), "")
        .file(format!("{ARCH}/bigdecimal.so"), "")
        .file(format!("{ARCH}/enc/euc_jp.so"), "")
        .file(format!("{ARCH}/enc/trans/japanese.so"), "")
        .file(format!("{ARCH}/rbconfig.rb"), "")
        // A gem of Debian's older layout: its files straight in vendor_ruby.
        .file(
            format!("{GEMS}/specifications/tilt-2.0.11.gemspec"),
            "Gem::Specification.new do |s|\n  s.require_paths = [\"lib\".freeze]\n  \
             s.files = [\"bin/tilt\".freeze, \"lib/tilt.rb\".freeze, \"lib/tilt/csv.rb\".freeze]\nend\n",
        )
        .file("usr/lib/ruby/vendor_ruby/tilt.rb", "")
        .file("usr/lib/ruby/vendor_ruby/tilt/csv.rb", "")
        .file("usr/lib/ruby/vendor_ruby/other.rb", "")
}

fn compute_on(name: &str, image: TarWriter, records: &[&str], profiles: &[&str]) -> KeepSet {
    let dir = ScratchDir::new(name);
    let index = FsIndex::from_layers(&[dir.write("layer.tar", image.finish())]).unwrap();
    let records: Vec<_> = records.iter().map(|p| record(*p)).collect();
    let options = KeepOptions {
        lists: Vec::new(),
        profiles: profiles.iter().map(|p| load(p).unwrap()).collect(),
        ..KeepOptions::default()
    };
    compute(&index, &records, &ImageRuntime::default(), &options).unwrap()
}

fn rules(set: &KeepSet, path: &str) -> Vec<String> {
    set.reasons(path.as_bytes())
        .unwrap_or_else(|| panic!("{path} is not kept"))
        .iter()
        .filter_map(|r| match r {
            Reason::Profile { rule, .. } => Some(rule.clone()),
            _ => None,
        })
        .collect()
}

fn ruby_keep(name: &str, profiles: &[&str]) -> KeepSet {
    compute_on(
        name,
        ruby_image(),
        &[
            "/usr/bin/ruby",
            "/app/app.rb",
            "/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/lib/sinatra.rb",
            "/usr/lib/ruby/vendor_ruby/tilt.rb",
            "/usr/share/rubygems-integration/all/extensions/x86_64-linux/3.1.0/unused-1.0/gem.build_complete",
        ],
        profiles,
    )
}

#[test]
fn ruby_keeps_used_gems_whole_and_the_features_kept_files_require() {
    let set = ruby_keep("ruby", &["ruby"]);
    let has = |p: &str| set.contains(p.as_bytes());
    for path in [
        "/usr/lib/ruby/3.1.0/csv.rb",
        "/usr/lib/ruby/3.1.0/csv/row.rb",
        "/usr/lib/ruby/3.1.0/forwardable.rb",
        "/app/lib/helper.rb",
        "/usr/lib/ruby/3.1.0/bigdecimal.rb",
        "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/bigdecimal.so",
        "/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/lib/sinatra/main.rb",
        "/usr/share/rubygems-integration/all/specifications/sinatra-3.0.5.gemspec",
        "/usr/share/rubygems-integration/all/gems/mustermann-3.0.0/lib/mustermann/expander.rb",
        "/usr/share/rubygems-integration/all/specifications/unused-1.0.gemspec",
        "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/enc/trans/japanese.so",
        "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/rbconfig.rb",
        "/usr/lib/ruby/3.1.0/digest/sha2.rb",
        "/usr/lib/ruby/vendor_ruby/tilt/csv.rb",
    ] {
        assert!(has(path), "{path}");
    }
    for path in [
        "/usr/lib/ruby/3.1.0/unrequired.rb",
        "/usr/lib/ruby/3.1.0/rdoc.rb",
        "/usr/share/rubygems-integration/all/gems/unused-1.0/lib/unused.rb",
        "/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/test/x_test.rb",
        "/usr/lib/ruby/vendor_ruby/other.rb",
    ] {
        assert!(!has(path), "{path}");
    }
    assert_eq!(
        rules(&set, "/usr/lib/ruby/vendor_ruby/tilt/csv.rb"),
        ["ruby gem /usr/share/rubygems-integration/all/specifications/tilt-2.0.11.gemspec used"]
    );
    assert_eq!(
        rules(&set, "/usr/lib/ruby/3.1.0/csv.rb"),
        ["ruby feature required by /app/app.rb"]
    );
    assert!(
        rules(
            &set,
            "/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/lib/sinatra/main.rb"
        )
        .contains(&"ruby gem /usr/share/rubygems-integration/all/gems/sinatra-3.0.5 used".into())
    );
    assert!(
        rules(
            &set,
            "/usr/share/rubygems-integration/all/gems/mustermann-3.0.0/lib/mustermann/expander.rb"
        )
        .iter()
        .any(|r| r.starts_with("ruby feature required by")),
        "a gem found by a require is kept whole"
    );
}

#[test]
fn without_the_ruby_profile_only_the_trace_is_kept() {
    let set = ruby_keep("ruby-none", &[]);
    assert!(!set.contains(b"/usr/lib/ruby/3.1.0/csv.rb"));
    assert!(!set.contains(
        b"/usr/share/rubygems-integration/all/gems/mustermann-3.0.0/lib/mustermann/expander.rb"
    ));
}

fn php_image() -> TarWriter {
    let ext = "usr/lib/php/20220829";
    TarWriter::new()
        .file("usr/sbin/php-fpm8.2", "")
        .file(
            "etc/php/8.2/mods-available/intl.ini",
            "; priority=20\nextension=intl.so\n",
        )
        .symlink(
            "etc/php/8.2/fpm/conf.d/20-intl.ini",
            "/etc/php/8.2/mods-available/intl.ini",
        )
        .file(
            "etc/php/8.2/cli/conf.d/20-mbstring.ini",
            "extension=mbstring\n",
        )
        .file(format!("{ext}/intl.so"), "")
        .file(format!("{ext}/mbstring.so"), "")
        .file(format!("{ext}/unloaded.so"), "")
        .entry(TarEntry::dir("var/lib/php/sessions").mode(0o1733))
        .file("srv/app/composer.json", "{}")
        .file("srv/app/public/index.php", "")
        .file("srv/app/templates/page.php", "")
        .file("srv/app/vendor/autoload.php", "")
        .file("srv/app/vendor/composer/autoload_real.php", "")
        .file("srv/app/vendor/acme/used/composer.json", "{}")
        .file("srv/app/vendor/acme/used/src/A.php", "")
        .file("srv/app/vendor/acme/used/src/B.php", "")
        .file("srv/app/vendor/acme/unused/composer.json", "{}")
        .file("srv/app/vendor/acme/unused/src/C.php", "")
}

#[test]
fn php_keeps_configured_extensions_the_app_tree_used_packages_and_the_session_dir() {
    let set = compute_on(
        "php",
        php_image(),
        &[
            "/srv/app/public/index.php",
            "/srv/app/vendor/autoload.php",
            "/srv/app/vendor/acme/used/src/A.php",
        ],
        &["php"],
    );
    let has = |p: &str| set.contains(p.as_bytes());
    for path in [
        "/usr/lib/php/20220829/intl.so",
        "/usr/lib/php/20220829/mbstring.so",
        "/var/lib/php/sessions",
        "/srv/app/templates/page.php",
        "/srv/app/vendor/composer/autoload_real.php",
        "/srv/app/vendor/acme/used/src/B.php",
    ] {
        assert!(has(path), "{path}");
    }
    for path in [
        "/usr/lib/php/20220829/unloaded.so",
        "/srv/app/vendor/acme/unused/src/C.php",
    ] {
        assert!(!has(path), "{path}");
    }
    assert_eq!(
        rules(&set, "/usr/lib/php/20220829/intl.so"),
        ["loaded by /etc/php/8.2/fpm/conf.d/20-intl.ini"]
    );
}
