//! slim's library: one module per pipeline stage, plus the command line and the engine.
