//! facetwin: the twin app (Bevy plugins over the Bevy-free crates) and the CLI tools.
//!
//! `main.rs` is the command line; everything it runs lives here so integration tests can drive
//! the same plugins headless.

#![allow(
    missing_debug_implementations,
    reason = "Bevy plugins, resources and components"
)]

pub mod app;
pub mod cli;
