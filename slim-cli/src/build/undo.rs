//! What a build undoes when it does not finish, and the temporary files it always removes:
//! the work directory, a partial `--output` archive, and the tag moved to an image that was
//! not verified. Touches the engine (tags and images) and the file system only.

use std::path::PathBuf;

use crate::engine::{Engine, EngineError};
use crate::error::Error;
use crate::recover::WORK_DIR_PREFIX;
use crate::reporter::Reporter;
use crate::run;

/// A directory for one build's temporary files, removed when dropped.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn create() -> Result<WorkDir, Error> {
        let id = run::new_run_id()?;
        let dir = std::env::temp_dir().join(format!("{WORK_DIR_PREFIX}{id}"));
        fs_err::create_dir_all(&dir).map_err(|e| Error::Io {
            what: format!("creating the work directory {}", dir.display()),
            source: e,
        })?;
        Ok(WorkDir(dir))
    }

    /// Its run id, unique to this build.
    pub fn id(&self) -> String {
        let name = self.0.file_name().unwrap_or_default().to_string_lossy();
        name.trim_start_matches(WORK_DIR_PREFIX).to_string()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs_err::remove_dir_all(&self.0);
    }
}

/// What a build must undo if it does not finish: the tag it moved and the archive it began.
#[derive(Debug, Default)]
pub struct Undo {
    /// The tag, and the image it named before the first load (`None`: no image).
    pub tag: Option<(String, Option<String>)>,
    /// The archive being written, and where it goes once the build succeeds.
    pub archive: Option<(PathBuf, PathBuf)>,
}

impl Undo {
    /// The build succeeded: the archive goes into place.
    pub fn commit(&mut self) -> Result<(), Error> {
        self.tag = None;
        if let Some((partial, output)) = self.archive.take() {
            fs_err::rename(&partial, &output).map_err(|source| Error::Io {
                what: format!("moving the archive into place as {}", output.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// The build did not finish: the partial archive goes and the tag names what it named
    /// before.
    pub async fn revert(&mut self, engine: &impl Engine, reporter: &dyn Reporter) {
        if let Some((partial, _)) = self.archive.take() {
            let _ = fs_err::remove_file(partial);
        }
        let Some((tag, previous)) = self.tag.take() else {
            return;
        };
        let now = match engine.inspect_image(&tag).await {
            Ok(image) => Some(image.id),
            Err(EngineError::ImageNotFound { .. }) => None,
            Err(e) => {
                reporter.warn(&format!(
                    "{tag} may name an unfinished image: cannot check it: {e}"
                ));
                return;
            }
        };
        let Some(unfinished) = now.filter(|id| Some(id) != previous.as_ref()) else {
            return;
        };
        let restored = match &previous {
            Some(id) => engine.tag_image(id, &tag).await,
            None => engine.remove_image(&tag).await,
        };
        if let Err(e) = restored {
            let undo = if previous.is_some() {
                "given back"
            } else {
                "removed"
            };
            reporter.warn(&format!(
                "{tag} names an unfinished image and could not be {undo}: {e}"
            ));
            return;
        }
        // Left without a name, the unfinished image goes too (one that other tags name
        // stays: it is not only this build's).
        if let Ok(image) = engine.inspect_image(&unfinished).await
            && image.repo_tags.iter().all(|t| t.contains("<none>"))
        {
            let _ = engine.remove_image(&unfinished).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use slim_test_kit::ScratchDir;

    use super::*;
    use crate::inspect::ImageInfo;
    use crate::test_kit::FakeEngine;

    const TAG: &str = "app.slim:1";
    const OLD: &str = "sha256:01d";
    const NEW: &str = "sha256:new";

    /// Keeps every warning.
    #[derive(Default)]
    struct Warnings(Mutex<Vec<String>>);

    impl Reporter for Warnings {
        fn step(&self, _: &str) {}

        fn warn(&self, message: &str) {
            self.0.lock().unwrap().push(message.to_string());
        }
    }

    impl Warnings {
        fn all(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    fn image(id: &str) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            ..ImageInfo::default()
        }
    }

    /// An engine where the build moved `TAG` from the image `OLD` to its own `NEW`.
    fn moved() -> FakeEngine {
        FakeEngine::default()
            .with_image(TAG, image(OLD))
            .with_image(TAG, image(NEW))
    }

    /// A partial archive in `dir`, and where it would have gone.
    fn archive(dir: &ScratchDir) -> (PathBuf, PathBuf) {
        let partial = dir.write("app.tar.partial", b"half an archive");
        (partial, dir.join("app.tar"))
    }

    fn ids(engine: &FakeEngine) -> Vec<(String, Vec<String>)> {
        let mut all: Vec<_> = engine
            .images()
            .into_iter()
            .map(|i| (i.info.id, i.info.repo_tags))
            .collect();
        all.sort();
        all
    }

    #[tokio::test]
    async fn revert_gives_the_tag_back_then_removes_the_unfinished_image_and_archive() {
        let dir = ScratchDir::new("undo-back");
        let (partial, output) = archive(&dir);
        let engine = moved();
        let warnings = Warnings::default();
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: Some((partial.clone(), output.clone())),
        };
        undo.revert(&engine, &warnings).await;
        assert_eq!(
            engine.calls(),
            [
                format!("inspect {TAG}"),
                format!("tag {OLD} {TAG}"),
                format!("inspect {NEW}"),
                format!("remove image {NEW}"),
            ]
        );
        assert_eq!(ids(&engine), [(OLD.to_string(), vec![TAG.to_string()])]);
        assert!(!partial.exists() && !output.exists());
        assert_eq!(warnings.all(), Vec::<String>::new());
        // Nothing is left to undo.
        assert!(undo.tag.is_none() && undo.archive.is_none());
        undo.revert(&engine, &warnings).await;
        assert_eq!(engine.calls().len(), 4);
    }

    #[tokio::test]
    async fn a_tag_that_named_nothing_is_removed_with_its_image() {
        let engine = FakeEngine::default().with_image(TAG, image(NEW));
        let mut undo = Undo {
            tag: Some((TAG.into(), None)),
            archive: None,
        };
        undo.revert(&engine, &Warnings::default()).await;
        assert_eq!(
            engine.calls(),
            [
                format!("inspect {TAG}"),
                format!("remove image {TAG}"),
                format!("inspect {NEW}"),
            ]
        );
        assert_eq!(ids(&engine), []);
    }

    #[tokio::test]
    async fn a_tag_the_build_never_moved_is_left_alone() {
        let engine = FakeEngine::default().with_image(TAG, image(OLD));
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: None,
        };
        undo.revert(&engine, &Warnings::default()).await;
        assert_eq!(engine.calls(), [format!("inspect {TAG}")]);
        assert_eq!(ids(&engine), [(OLD.to_string(), vec![TAG.to_string()])]);

        // Nor does a tag that names nothing now (the build failed before loading).
        let engine = FakeEngine::default();
        let mut undo = Undo {
            tag: Some((TAG.into(), None)),
            archive: None,
        };
        undo.revert(&engine, &Warnings::default()).await;
        assert_eq!(engine.calls(), [format!("inspect {TAG}")]);
    }

    #[tokio::test]
    async fn an_unfinished_image_other_tags_name_stays() {
        let engine = moved().with_image("other:1", image(NEW));
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: None,
        };
        undo.revert(&engine, &Warnings::default()).await;
        assert_eq!(
            ids(&engine),
            [
                (OLD.to_string(), vec![TAG.to_string()]),
                (NEW.to_string(), vec!["other:1".to_string()]),
            ]
        );
        assert!(!engine.calls().contains(&format!("remove image {NEW}")));
    }

    #[tokio::test]
    async fn engine_errors_are_reported_and_the_archive_still_goes() {
        let dir = ScratchDir::new("undo-errors");

        // The tag cannot be checked: nothing more is asked of the engine.
        let (partial, output) = archive(&dir);
        let engine = moved().failing("inspect");
        let warnings = Warnings::default();
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: Some((partial.clone(), output.clone())),
        };
        undo.revert(&engine, &warnings).await;
        assert!(!partial.exists() && !output.exists());
        assert_eq!(engine.calls(), [format!("inspect {TAG}")]);
        let warned = warnings.all();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].starts_with(&format!(
                "{TAG} may name an unfinished image: cannot check it: "
            )),
            "{warned:?}"
        );

        // The tag cannot be given back: the unfinished image it still names stays.
        let (partial, output) = archive(&dir);
        let engine = moved().failing("tag");
        let warnings = Warnings::default();
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: Some((partial.clone(), output)),
        };
        undo.revert(&engine, &warnings).await;
        assert!(!partial.exists());
        let warned = warnings.all();
        assert!(
            warned.len() == 1
                && warned[0].starts_with(&format!(
                    "{TAG} names an unfinished image and could not be given back: "
                )),
            "{warned:?}"
        );
        assert_eq!(engine.image(TAG).unwrap().info.id, NEW);

        // The tag cannot be removed.
        let engine = FakeEngine::default()
            .with_image(TAG, image(NEW))
            .failing("remove image");
        let warnings = Warnings::default();
        let mut undo = Undo {
            tag: Some((TAG.into(), None)),
            archive: None,
        };
        undo.revert(&engine, &warnings).await;
        let warned = warnings.all();
        assert!(
            warned.len() == 1
                && warned[0].starts_with(&format!(
                    "{TAG} names an unfinished image and could not be removed: "
                )),
            "{warned:?}"
        );
    }

    #[tokio::test]
    async fn commit_puts_the_archive_in_place_and_leaves_nothing_to_revert() {
        let dir = ScratchDir::new("undo-commit");
        let (partial, output) = archive(&dir);
        let engine = moved();
        let mut undo = Undo {
            tag: Some((TAG.into(), Some(OLD.into()))),
            archive: Some((partial.clone(), output.clone())),
        };
        undo.commit().unwrap();
        assert!(!partial.exists());
        assert_eq!(fs_err::read(&output).unwrap(), b"half an archive");
        undo.revert(&engine, &Warnings::default()).await;
        assert_eq!(engine.calls(), Vec::<String>::new());
        assert!(output.exists());
        assert_eq!(engine.image(TAG).unwrap().info.id, NEW);
    }
}
