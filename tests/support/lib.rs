//! Fixture images for the integration tests, built locally (no registry) and cached in the engine.
