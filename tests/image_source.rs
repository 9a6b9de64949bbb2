//! Where a build reads the original image: in place from the engine's layer store (the
//! default where the engine keeps layers as directories on this host, as here), or through
//! the engine's export (`--image-source export`). Both must give the same image.
//!
//! Every layer of every fixture, rebuilt from the layer store (headers from the engine's
//! record, content through slim's own reader), must hash to its diff id: the archive the
//! engine took in, byte for byte. Builds with each source must give the same image id
//! (here on nginx; tests/hostile_images.rs does it on every hostile shape).
//!
//! Needs root and the Docker engine with the overlay2 or fuse-overlayfs storage driver
//! (every test is named `root_engine_…`).

use std::collections::HashSet;
use std::io::{self, Write};

use sha2::{Digest, Sha256};
use slim_cli::engine::{DockerEngine, Engine};
use slim_cli::image::index::{FsIndex, LayerSource};
use slim_cli::image::store::{self, SourceChoice};
use slim_fixtures::{
    BuildCommand, FIXTURES, builds_of_one_trace, docker_ok, image, kept_differences,
};

struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn root_engine_every_fixture_layer_rebuilt_from_the_layer_store_is_the_engines_own() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let engine = runtime
        .block_on(DockerEngine::connect())
        .expect("connecting to the engine");
    let mut checked = HashSet::new();
    for name in FIXTURES {
        let tag = image(name);
        let info = runtime
            .block_on(engine.inspect_image(&tag))
            .unwrap_or_else(|e| panic!("inspecting {tag}: {e}"));
        let located = store::locate(&info, SourceChoice::Store)
            .unwrap_or_else(|e| panic!("{tag}: {e}"))
            .expect("the store is required");
        let index =
            FsIndex::from_sources(located.layers.into_iter().map(LayerSource::Store).collect())
                .unwrap_or_else(|e| panic!("indexing {tag} from the layer store: {e}"));
        for (layer, diff_id) in info.layers.iter().enumerate() {
            if !checked.insert(diff_id.clone()) {
                continue;
            }
            let mut rebuilt = index
                .rebuilt_layer(layer)
                .expect("a layer of the store")
                .unwrap_or_else(|e| panic!("{tag} layer {layer}: {e}"));
            let mut hash = Hashing(Sha256::new());
            io::copy(&mut rebuilt, &mut hash)
                .unwrap_or_else(|e| panic!("{tag} layer {layer}: {e}"));
            let digest: String = hash
                .0
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                format!("sha256:{digest}"),
                *diff_id,
                "{tag}: layer {layer} rebuilt from the layer store differs from the engine's"
            );
        }
    }
    assert!(
        checked.len() >= FIXTURES.len(),
        "{} layers checked",
        checked.len()
    );
}

#[test]
fn root_engine_a_build_from_the_layer_store_is_the_build_from_the_export() {
    let nginx = image("nginx");
    let build = |source: &str| {
        BuildCommand::new(&nginx)
            .unique_tag("image-source")
            .option("--image-source", source)
            .run()
    };
    let (from_store, from_export) = builds_of_one_trace(|| build("auto"), || build("export"));
    let read_from = |outcome: &slim_fixtures::BuildOutcome| {
        outcome.report.as_ref().expect("a report")["source"]["read_from"].clone()
    };
    assert_eq!(
        read_from(&from_store)["kind"],
        "layer_store",
        "{}",
        from_store.stderr
    );
    assert_eq!(read_from(&from_export)["kind"], "export");
    assert_eq!(read_from(&from_export)["why"], "--image-source export");
    let (store_image, export_image) = (from_store.image(), from_export.image());
    assert_eq!(
        store_image.engine.id,
        export_image.engine.id,
        "the two sources gave different images; kept paths that differ (store | export):\n{}\n\
         store build:\n{}\nexport build:\n{}",
        kept_differences(
            from_store.report.as_ref().expect("a report"),
            from_export.report.as_ref().expect("a report")
        ),
        from_store.stderr,
        from_export.stderr
    );
    // The store was read while the traced container ran: nothing is left to save after it.
    assert!(
        from_store
            .messages()
            .iter()
            .any(|l| l.contains("read in place") && l.contains("alongside the run")),
        "{}",
        from_store.stderr
    );
}

/// slim with the engine's layer records hidden from it (a private mount namespace with an
/// empty directory over them); the engine itself still has them.
fn without_layer_records(build: BuildCommand) -> BuildCommand {
    let root = docker_ok(["info", "--format", "{{.DockerRootDir}}"]);
    let hide = format!(
        "mount -t tmpfs slim-test '{}/image' && exec \"$0\" \"$@\"",
        root.trim()
    );
    build.wrapped_in([
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &hide,
    ])
}

#[test]
fn root_engine_without_the_layer_store_the_export_gives_the_same_image_or_store_fails() {
    let nginx = image("nginx");
    let fallback =
        without_layer_records(BuildCommand::new(&nginx).unique_tag("image-source")).run();
    let report = fallback.report.as_ref().expect("a report");
    assert_eq!(
        report["source"]["read_from"]["kind"], "export",
        "{}",
        fallback.stderr
    );
    let why = report["source"]["read_from"]["why"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("layer"), "{why}");
    let through_export = fallback.image();
    let from_store = BuildCommand::new(&nginx).unique_tag("image-source").run();
    assert_eq!(
        from_store.report.as_ref().expect("a report")["source"]["read_from"]["kind"],
        "layer_store"
    );
    assert_eq!(through_export.engine.id, from_store.image().engine.id);

    // Required, a layer store that cannot be read is an error that says what to do.
    let required = without_layer_records(
        BuildCommand::new(&nginx)
            .unique_tag("image-source")
            .option("--image-source", "store"),
    )
    .run();
    assert_eq!(required.code, Some(2), "{}", required.stderr);
    required.assert_nothing_left();
    assert!(
        required
            .error_lines()
            .iter()
            .any(|l| l.contains("cannot be read from the engine's layer store")),
        "{}",
        required.stderr
    );
    assert!(required.stderr.contains("hint:"), "{}", required.stderr);
}
